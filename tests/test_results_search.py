"""Searching the results store answers as SearchQuery.select does in memory (the reference),
on SQLite (bounding box, then shapely) and on PostGIS, for many queries over varied parcels."""

import random
from datetime import date, datetime, timezone

import pytest
import shapely

from candela.results.records import Observation, Run
from candela.results.store import ResultsStore
from candela.search.phrase import parse
from candela.search.query import LEVELS, SearchQuery
from helpers.results import results_url

CLASSES = ("forest", "meadow", "Łąka")
SOURCES = (("optical",), ("sar",), ("optical", "sar"))
PERIODS = ((date(2017, 7, 30), date(2017, 9, 29)), (date(2018, 5, 1), date(2018, 6, 1)),
           (date(2017, 8, 1), date(2017, 8, 2)))


def scene(seed=0, count=60):
    """Observations over a few runs: random parcels near Toruń, some without usable pixels."""
    rng = random.Random(seed)
    runs = []
    for r in range(3):
        observations = []
        for i in range(count // 3):
            x, y = 18.5 + rng.random() * 0.2, 52.95 + rng.random() * 0.1
            geometry = shapely.box(x, y, x + 0.002 + rng.random() * 0.01, y + 0.002 + rng.random() * 0.01)
            if i % 7 == 0:
                geometry = shapely.Polygon([(x, y), (x + 0.01, y), (x, y + 0.01)])  # triangles: bbox is not enough
            start, end = PERIODS[rng.randrange(len(PERIODS))]
            fraction = None if i % 11 == 5 else round(rng.random(), 3)
            level = None if fraction is None else LEVELS[min(3, int(fraction * 4))]
            observations.append(Observation(
                f"R{r}-{i}", geometry, "ranked" if fraction is not None else "no usable pixels", {"n": i},
                rng.sample(CLASSES, rng.randint(1, 2)), SOURCES[rng.randrange(3)],
                datetime(start.year, start.month, start.day, tzinfo=timezone.utc),
                datetime(end.year, end.month, end.day, tzinfo=timezone.utc), 10.0, 10.0,
                None if fraction is None else round(fraction * 10, 3), fraction, fraction,
                None if fraction is None else i + 1, level))
        runs.append(observations)
    return runs


def in_memory(observation):
    """A stored observation as SearchQuery.matches reads one."""
    return {"geometry": observation["geometry"], "classes": observation["classes"],
            "sources": observation["sources"], "start": observation["period_start"],
            "end": observation["period_end"], "fraction": observation["damaged_fraction"],
            "area_ha": observation["damaged_ha"], "level": observation["level"], "rank": observation["rank"],
            "score": observation["score"], "key": observation["key"]}


@pytest.fixture(scope="module", params=["sqlite", "postgis"])
def store(request, tmp_path_factory):
    store = ResultsStore(results_url(request.param, tmp_path_factory.mktemp("results")))
    for observations in scene():
        store.record(Run("ParcelDamage", "1.0.0"), observations=observations)
    return store


def random_queries(count, seed=1):
    rng = random.Random(seed)
    for _ in range(count):
        fields = {}
        if rng.random() < 0.4:
            fields["classes"] = tuple(rng.sample(("forest", "MEADOW", "łąka"), rng.randint(1, 2)))
        if rng.random() < 0.5:
            fields["source"] = rng.choice(("any", "optical", "sar", "both"))
        if rng.random() < 0.4:
            fields["after"] = rng.choice((date(2017, 7, 31), date(2017, 8, 1), date(2017, 8, 2), date(2018, 1, 1)))
        if rng.random() < 0.3:
            fields["before"] = rng.choice((date(2017, 8, 1), date(2017, 8, 2), date(2019, 1, 1)))
            if "after" in fields and fields["after"] >= fields["before"]:
                del fields["after"]
        if rng.random() < 0.4:
            x, y = 18.5 + rng.random() * 0.15, 52.95 + rng.random() * 0.08
            fields["aoi"] = rng.choice((shapely.box(x, y, x + 0.05, y + 0.03),
                                        shapely.Point(x, y).buffer(0.02, quad_segs=4)))
        if rng.random() < 0.3:
            fields["min_fraction"] = rng.choice((0.1, 0.5, 0.9))
        if rng.random() < 0.2:
            fields["min_area_ha"] = rng.choice((1.0, 5.0))
        if rng.random() < 0.3:
            fields["levels"] = tuple(rng.sample(LEVELS, rng.randint(1, 2)))
        fields["order"] = rng.choice(("damage", "area", "rank", "date"))
        fields["descending"] = rng.choice((None, True, False))
        fields["limit"] = rng.choice((1, 5, 100))
        yield SearchQuery(**fields)


def test_the_store_finds_what_the_in_memory_search_finds(store):
    everything = [in_memory(o) for o in store.observations() if o["damaged_fraction"] is not None]
    compared = 0
    for query in random_queries(150):
        found = [o["key"] for o in store.search(query)]
        expected = [o["key"] for o in query.select(everything)]
        if query.order == "date":  # days tie: the store orders by time, then insertion; compare as sets
            found, expected = sorted(found), sorted(expected)
            if len(expected) == query.limit:
                continue
        assert found == expected, query
        compared += bool(expected)
    assert compared > 60  # most queries find something: the comparison is not empty


def test_only_ranked_observations_are_found(store):
    found = store.search(SearchQuery(limit=10000))
    assert found and all(o["damaged_fraction"] is not None for o in found)
    assert len(found) < len(store.observations())


def test_a_phrase_over_the_store(store):
    query = parse("forest parcels damaged after 2017-08-01 with more than 30 % damage, most damaged first, top 10",
                  known_classes=store.classes())
    found = store.search(query)
    assert 0 < len(found) <= 10
    assert all("forest" in o["classes"] and o["damaged_fraction"] >= 0.3 for o in found)
    assert all(o["period_end"] > "2017-08-02" for o in found)
    fractions = [o["damaged_fraction"] for o in found]
    assert fractions == sorted(fractions, reverse=True)


def test_classes_match_without_case_beyond_ascii(store):
    upper = store.search(SearchQuery(classes=("ŁĄKA",), limit=10000))
    assert upper and all("Łąka" in o["classes"] for o in upper)


@pytest.mark.parametrize("kind", ["sqlite", "postgis"])
def test_an_area_is_met_by_the_parcel_not_by_its_bounding_box(kind, tmp_path):
    store = ResultsStore(results_url(kind, tmp_path))
    triangle = shapely.Polygon([(18.60, 53.00), (18.62, 53.00), (18.60, 53.02)])
    store.record(Run("ParcelDamage", "1.0.0"), observations=[Observation(
        "T", triangle, "ranked", {}, ("forest",), ("sar",), "2017-07-30", "2017-09-29", 1, 1, 0.5, 0.5, 0.5, 1, "middle")])
    empty_corner = shapely.box(18.615, 53.015, 18.63, 53.03)  # inside the triangle's box, outside the triangle
    assert store.search(SearchQuery(aoi=empty_corner)) == []
    assert [o["parcel"] for o in store.search(SearchQuery(aoi=shapely.box(18.60, 53.00, 18.605, 53.005)))] == ["T"]


@pytest.mark.parametrize("kind", ["sqlite", "postgis"])
def test_a_later_run_over_the_same_parcel_and_period_replaces_the_earlier(kind, tmp_path):
    store = ResultsStore(results_url(kind, tmp_path))
    parcel = shapely.box(18.6, 53.0, 18.61, 53.01)

    def seen(fraction, start="2017-07-30", rank=1):
        return Observation("P", parcel, "ranked" if fraction is not None else "no usable pixels", {}, ("forest",),
                           ("sar",), start, "2017-09-29", 1, 1, fraction, fraction, fraction, rank, "middle")

    store.record(Run("ParcelDamage", "1.0.0", job_id="first"), observations=[seen(0.4)])
    store.record(Run("ParcelDamage", "1.0.0", job_id="second"), observations=[seen(0.5)])
    store.record(Run("ParcelDamage", "1.0.0", job_id="unranked"), observations=[seen(None, rank=None)])
    store.record(Run("ParcelDamage", "1.0.0", job_id="spring"), observations=[seen(0.1, start="2017-03-01")])
    found = store.search(SearchQuery(limit=100, order="damage"))
    assert [(o["job_id"], o["damaged_fraction"]) for o in found] == [("second", 0.5), ("spring", 0.1)]
    assert len(store.observations()) == 4  # all kept, with their provenance


@pytest.mark.parametrize("kind", ["sqlite", "postgis"])
def test_a_run_over_other_classes_replaces_nothing(kind, tmp_path):
    store = ResultsStore(results_url(kind, tmp_path))
    parcel = shapely.box(18.6, 53.0, 18.61, 53.01)
    for job, classes, fraction in (("forest", ("forest",), 0.8), ("everything", (), 0.3)):
        store.record(Run("ParcelDamage", "1.0.0", job_id=job), observations=[Observation(
            "P", parcel, "ranked", {}, classes, ("sar",), "2017-07-30", "2017-09-29", 1, 1, fraction, fraction,
            fraction, 1, "middle")])
    assert [o["job_id"] for o in store.search(SearchQuery(classes=("Forest",)))] == ["forest"]
    assert {o["job_id"] for o in store.search(SearchQuery())} == {"forest", "everything"}


def test_migrating_from_many_processes_at_once_on_postgis(tmp_path):
    import multiprocessing

    url = results_url("postgis", tmp_path)
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        assert pool.map(_open_store, [url] * 4) == [True] * 4


def _open_store(url):
    ResultsStore(url)
    return True
