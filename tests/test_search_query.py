"""Search queries (candela.search): what an observation matches."""

from datetime import date, datetime
from types import SimpleNamespace

import pytest
from shapely.geometry import MultiPolygon, Polygon, box

from candela.errors import InputError
from candela.search import SearchQuery

YEAR_2017 = SearchQuery(after=date(2016, 12, 31), before=date(2018, 1, 1))
D = date.fromisoformat


@pytest.mark.parametrize("fields, field", [
    (dict(limit=True), "limit"),
    (dict(limit=10.0), "limit"),
    (dict(after=datetime(2017, 8, 1)), "after"),
    (dict(before="2017-08-01"), "before"),
    (dict(min_fraction=float("nan")), "min_fraction"),
    (dict(aoi=Polygon()), "aoi"),
    (dict(classes=("forest", "")), "classes"),
    (dict(descending="no"), "descending"),
])
def test_a_query_refuses_bad_fields_by_name(fields, field):
    with pytest.raises(InputError) as raised:
        SearchQuery(**fields)
    assert raised.value.input == field


def observation(**fields):
    """A forest parcel of the sample, damaged between 2017-07-01 and 2017-08-01; ``fields`` change it."""
    base = dict(geometry=box(18.55, 53.02, 18.60, 53.05), classes=("forest",), sources=("optical",),
                start=D("2017-07-01"), end=D("2017-08-01"), fraction=0.3, area_ha=2.0, level="middle",
                score=0.5, rank=3)
    return base | fields


@pytest.mark.parametrize("query, changes, expected", [
    # after D: the period ends after D; before D: it starts before D (boundaries excluded).
    (SearchQuery(after=D("2017-08-01")), {}, False),
    (SearchQuery(after=D("2017-07-31")), {}, True),
    (SearchQuery(before=D("2017-07-01")), {}, False),
    (SearchQuery(before=D("2017-07-02")), {}, True),
    # Both, as "during 2017" reads: a period sharing a day with the year, at either end.
    (YEAR_2017, dict(start=D("2016-12-01"), end=D("2017-01-01")), True),
    (YEAR_2017, dict(start=D("2016-12-01"), end=D("2016-12-31")), False),
    (YEAR_2017, dict(start=D("2017-12-31"), end=D("2018-01-12")), True),
    (YEAR_2017, dict(start=D("2018-01-01"), end=D("2018-01-12")), False),
    (YEAR_2017, dict(start=D("2016-12-01"), end=D("2018-01-12")), True),  # spans it
    (YEAR_2017, dict(start="2016-12-01", end=datetime(2016, 12, 31, 23)), False),  # text, datetime
    # aoi: intersects, so a parcel across or on the edge counts.
    (SearchQuery(aoi=box(18.5, 53.0, 18.7, 53.1)), {}, True),
    (SearchQuery(aoi=box(18.58, 53.0, 18.7, 53.1)), {}, True),
    (SearchQuery(aoi=box(18.60, 53.0, 18.7, 53.1)), {}, True),
    (SearchQuery(aoi=box(18.61, 53.0, 18.7, 53.1)), {}, False),
    (SearchQuery(aoi=MultiPolygon([box(0, 0, 1, 1), box(18.5, 53.0, 18.56, 53.1)])), {}, True),
    (SearchQuery(aoi=box(18.5, 53.0, 18.7, 53.1)), dict(geometry=None), False),
    # classes: any of them, case-insensitive.
    (SearchQuery(classes=("Forest", "meadow")), {}, True),
    (SearchQuery(classes=("meadow",)), {}, False),
    (SearchQuery(classes=("forest",)), dict(classes="forest"), True),
    # sources: "optical" is optical alone or with sar; "both" needs both.
    (SearchQuery(source="optical"), {}, True),
    (SearchQuery(source="sar"), {}, False),
    (SearchQuery(source="both"), {}, False),
    (SearchQuery(source="both"), dict(sources=("sar", "optical")), True),
    (SearchQuery(source="sar"), dict(sources="both"), True),
    (SearchQuery(source="any"), dict(sources=()), True),
    # amounts: at least, inclusive; a missing value does not match.
    (SearchQuery(min_fraction=0.3), {}, True),
    (SearchQuery(min_fraction=0.31), {}, False),
    (SearchQuery(min_fraction=0.1), dict(fraction=None), False),
    (SearchQuery(min_area_ha=2), {}, True),
    (SearchQuery(min_area_ha=2.5), {}, False),
    (SearchQuery(levels=("middle", "high")), {}, True),
    (SearchQuery(levels=("high",)), {}, False),
    (SearchQuery(levels=("middle",)), dict(level="Middle"), True),
    (SearchQuery(classes=("forest",), after=D("2017-07-15"), min_fraction=0.3, aoi=box(18.5, 53.0, 18.7, 53.1),
                 levels=("middle",), source="optical"), {}, True),
])
def test_what_an_observation_matches(query, changes, expected):
    assert query.matches(observation(**changes)) is expected
    assert query.matches(SimpleNamespace(**observation(**changes))) is expected


def test_select_filters_orders_and_limits():
    sample = [observation(rank=rank, fraction=fraction, area_ha=area, end=end, score=rank)
              for rank, fraction, area, end in [(2, 0.5, 1.0, D("2017-09-01")), (1, 0.9, None, D("2017-08-01")),
                                               (3, 0.5, 3.0, D("2017-10-01")), (4, 0.1, 2.0, "2017-11-01")]]

    def ranks(query):
        return [obs["rank"] for obs in query.select(sample)]

    assert ranks(SearchQuery()) == [1, 2, 3, 4]
    assert ranks(SearchQuery(order="damage")) == [1, 2, 3, 4]  # 2 and 3 tie: given order kept
    assert ranks(SearchQuery(order="damage", descending=False)) == [4, 2, 3, 1]
    assert ranks(SearchQuery(order="area")) == [3, 4, 2, 1]  # no area: last, either way
    assert ranks(SearchQuery(order="area", descending=False)) == [2, 4, 3, 1]
    assert ranks(SearchQuery(order="date", limit=2)) == [4, 3]
    assert ranks(SearchQuery(min_fraction=0.5, order="rank", descending=True)) == [3, 2, 1]
