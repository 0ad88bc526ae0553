"""Search queries (candela.search): the WPS literals, and what an observation matches."""

import re
from datetime import date, datetime
from types import SimpleNamespace

import pytest
from shapely.geometry import MultiPolygon, Polygon, box

from candela.errors import InputError
from candela.search import SearchQuery, from_literals

CLASSES = ("forest", "meadow", "dry grass", "broadleaf forest", "low vegetation")
YEAR_2017 = SearchQuery(after=date(2016, 12, 31), before=date(2018, 1, 1))
TRIANGLE = Polygon([(18.5, 53.0), (18.7, 53.0), (18.6, 53.1)])
UTM_RECTANGLE = "500000,5880000,510000,5890000,EPSG:32633"
UTM_POLYGON = "SRID=32633;POLYGON((500000 5880000, 510000 5880000, 510000 5890000, 500000 5890000, 500000 5880000))"
D = date.fromisoformat


@pytest.mark.parametrize("literals, fields", [
    ({}, {}),
    (dict.fromkeys(("classes", "source", "after", "before", "aoi", "min_fraction", "min_area", "levels",
                    "order", "descending", "limit"), " "), {}),
    (dict(classes="forest, meadow,"), dict(classes=("forest", "meadow"))),
    (dict(source="SAR"), dict(source="sar")),
    (dict(after="2017-08-01", before="2017-10-01"), dict(after=D("2017-08-01"), before=D("2017-10-01"))),
    (dict(aoi="18.5,53.0,18.7,53.1"), dict(aoi=box(18.5, 53.0, 18.7, 53.1))),
    (dict(aoi="POLYGON((18.5 53, 18.7 53, 18.6 53.1, 18.5 53))"), dict(aoi=TRIANGLE)),
    (dict(aoi="SRID=4326; POLYGON((18.5 53, 18.7 53, 18.6 53.1, 18.5 53))"), dict(aoi=TRIANGLE)),
    (dict(aoi="POLYGON Z((18.5 53 1, 18.7 53 1, 18.6 53.1 1, 18.5 53 1))"), dict(aoi=TRIANGLE)),
    (dict(min_fraction="0.3"), dict(min_fraction=0.3)),
    (dict(min_fraction="30%"), dict(min_fraction=0.3)),
    (dict(min_fraction="30 %"), dict(min_fraction=0.3)),
    (dict(min_fraction="7 %"), dict(min_fraction=0.07)),  # not 7 * 0.01 = 0.07000000000000001
    (dict(min_area="2"), dict(min_area_ha=2.0)),
    (dict(min_area="2.5 ha"), dict(min_area_ha=2.5)),
    (dict(levels="High, middle"), dict(levels=("middle", "high"))),
    (dict(order="date"), dict(order="date", descending=True)),
    (dict(order="date", descending="false"), dict(order="date", descending=False)),
    (dict(order="rank"), dict(order="rank", descending=False)),
    (dict(descending="yes"), dict(descending=True)),
    (dict(limit="5"), dict(limit=5)),
])
def test_literals_read_as_the_query(literals, fields):
    assert from_literals(**literals) == SearchQuery(**fields)


def test_an_aoi_in_another_crs_is_reprojected_to_lonlat():
    rectangle = from_literals(aoi=UTM_RECTANGLE).aoi
    polygon = from_literals(aoi=UTM_POLYGON).aoi
    # Easting 500000 is the zone's central meridian, 15° E; 5880000 m north is about 53.07° N.
    assert rectangle.bounds[0] == pytest.approx(15.0) and rectangle.bounds[1] == pytest.approx(53.069, abs=1e-3)
    assert rectangle.bounds[2] == pytest.approx(15.15, abs=1e-3)
    assert len(rectangle.exterior.coords) > 5  # densified: the edges keep their shape
    assert rectangle.symmetric_difference(polygon).area < 1e-12


@pytest.mark.parametrize("literals, parameter, fragment", [
    (dict(after="2017-13-01"), "after", "'2017-13-01' is not an ISO 8601 date (YYYY-MM-DD)"),
    (dict(before="yesterday"), "before", "'yesterday' is not an ISO 8601 date"),
    (dict(after="2018-01-01", before="2017-01-01"), "before", "is not later than after"),
    (dict(min_fraction="1.5"), "min_fraction", "write 1.5 % for a percentage"),
    (dict(min_fraction="150 %"), "min_fraction", "not a percentage from 0 to 100"),
    (dict(min_fraction="-0.1"), "min_fraction", "from 0 to 1"),
    (dict(min_fraction="lots"), "min_fraction", "'lots' is not a number"),
    (dict(min_fraction="nan"), "min_fraction", "not a finite number"),
    (dict(min_area="-1"), "min_area", "at least 0"),
    (dict(min_area="big"), "min_area", "not a number"),
    (dict(limit="10001"), "limit", "from 1 to 10000"),
    (dict(limit="0"), "limit", "from 1 to 10000"),
    (dict(limit="ten"), "limit", "not a whole number"),
    (dict(levels="high,severe"), "levels", "'severe' is not one of very low, low, middle, high"),
    (dict(source="radar"), "source", "not one of any, optical, sar, both"),
    (dict(order="score"), "order", "not one of damage, area, date, rank"),
    (dict(descending="maybe"), "descending", "not true or false"),
    (dict(aoi="1,2,3"), "aoi", "minx,miny,maxx,maxy"),
    (dict(aoi="POINT(18.5 53)"), "aoi", "expected a polygon or multipolygon, not Point"),
    (dict(aoi="POLYGON((18.5 53, 18.7"), "aoi", "the WKT is not well-formed"),
    (dict(aoi="SRID=999999;POLYGON((0 0, 1 0, 1 1, 0 0))"), "aoi", "unknown SRID 999999"),
    (dict(classes="forrest", known_classes=CLASSES), "classes", "unknown class 'forrest'; the classes are: forest"),
])
def test_a_literal_error_names_the_parameter(literals, parameter, fragment):
    with pytest.raises(InputError, match=re.escape(fragment)) as raised:
        from_literals(**literals)
    assert raised.value.input == parameter


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
