"""Search queries (candela.search): the phrase grammar, the WPS literals, and what an observation matches."""

import re
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from shapely.geometry import MultiPolygon, Polygon, box

from candela.errors import InputError
from candela.search import LEVELS, SearchQuery, from_literals, parse
from candela.search import phrase as grammar

CLASSES = ("forest", "meadow", "dry grass", "broadleaf forest", "low vegetation")
DOC = Path(__file__).resolve().parent.parent / "docs" / "search-grammar.md"
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


@pytest.mark.parametrize("text, fields", [
    ("forest parcels damaged after 2017-08-01 with more than 30 % damage, most damaged first, top 10",
     dict(classes=("forest",), after=D("2017-08-01"), min_fraction=0.3, order="damage", descending=True, limit=10)),
    ("parcels damaged by sar and optical between 2017-07-01 and 2017-10-01",
     dict(source="both", after=D("2017-06-30"), before=D("2017-10-02"))),
    ("high damage forest parcels within 18.5,53.0,18.7,53.1",
     dict(levels=("high",), classes=("forest",), aoi=box(18.5, 53.0, 18.7, 53.1))),
    ("high damage forest parcels in POLYGON((18.5 53, 18.7 53, 18.6 53.1, 18.5 53))",
     dict(levels=("high",), classes=("forest",), aoi=TRIANGLE)),
    ("parcels within -9.5, 52.9, -9.2, 53.1", dict(aoi=box(-9.5, 52.9, -9.2, 53.1))),
    ("parcels with at least 2 ha damaged, largest damaged area first",
     dict(min_area_ha=2.0, order="area", descending=True)),
    ("middle or high damage parcels seen by optical before 2018-01-01, limit 5",
     dict(levels=("middle", "high"), source="optical", before=D("2018-01-01"), limit=5)),
    ("meadow and forest parcels", dict(classes=("meadow", "forest"))),
    ("Forests, MEADOWS", dict(classes=("forest", "meadow"))),
    ("dry grasses or broadleaf forest", dict(classes=("dry grass", "broadleaf forest"))),
    ("low vegetation with low damage", dict(classes=("low vegetation",), levels=("low",))),
    ("forest with very low damage, meadow", dict(classes=("forest", "meadow"), levels=("very low",))),
    ("show me the forest parcels that were damaged after 2017-08-01.",
     dict(classes=("forest",), after=D("2017-08-01"))),
    # Order words, and the natural direction of "by KEY".
    ("least damaged first", dict(order="damage", descending=False)),
    ("newest first", dict(order="date", descending=True)),
    ("oldest first", dict(order="date", descending=False)),
    ("smallest area first", dict(order="area", descending=False)),
    ("by area", dict(order="area", descending=True)),
    ("sorted by date ascending", dict(order="date", descending=False)),
    ("by rank descending", dict(order="rank", descending=True)),
    ("best ranked first", dict(order="rank", descending=False)),
    # Spans: a year or a month counts by its last day after "after", its first before "before";
    # "during"/"in" a span: the period shares a day with it.
    ("after 2017", dict(after=D("2017-12-31"))),
    ("before 2017-08", dict(before=D("2017-08-01"))),
    ("damaged during 2017", dict(after=D("2016-12-31"), before=D("2018-01-01"))),
    ("in 2016-02", dict(after=D("2016-01-31"), before=D("2016-03-01"))),
    ("during 2017-08-01", dict(after=D("2017-07-31"), before=D("2017-08-02"))),
    ("between 2016 and 2018", dict(after=D("2015-12-31"), before=D("2019-01-01"))),
    ("between 2017-07 and 2017-09", dict(after=D("2017-06-30"), before=D("2017-10-01"))),
    # Amounts: % (glued or not) or "percent" is a percentage, a bare number a fraction; all "at least".
    ("with over 30% damage", dict(min_fraction=0.3)),
    ("above 30 percent", dict(min_fraction=0.3)),
    ("> 0.3", dict(min_fraction=0.3)),
    (">= 7 %", dict(min_fraction=0.07)),
    ("at least 1", dict(min_fraction=1.0)),
    ("more than 2.5ha", dict(min_area_ha=2.5)),
    ("≥ 3 hectares", dict(min_area_ha=3.0)),
    # Sources.
    ("seen by sar", dict(source="sar")),
    ("optical or sar", dict(source="any")),
    ("top 10 forest parcels", dict(classes=("forest",), limit=10)),
    ("first 3", dict(limit=3)),
    ("", dict()),
])
def test_a_phrase_reads_as_the_query(text, fields):
    assert parse(text, CLASSES) == SearchQuery(**fields)


@pytest.mark.parametrize("area", [UTM_RECTANGLE, UTM_POLYGON, "18.5,53.0,18.7,53.1"])
def test_a_phrase_area_reads_as_the_aoi_literal(area):
    assert parse(f"parcels within {area}").aoi == from_literals(aoi=area).aoi


def test_a_phrase_matches_as_its_query():
    query = parse("forest parcels damaged after 2017-07-15 with more than 30 % damage within 18.5,53.0,18.7,53.1",
                  CLASSES)
    assert query.matches(observation()) and not query.matches(observation(fraction=0.2))


@pytest.mark.parametrize("text, fragments", [
    ("forrest parcels", ["unknown word 'forrest' at character 1", "did you mean 'forest'?",
                         "after, and, area", "within, worst", "the classes: broadleaf forest, dry grass, forest"]),
    ("forest parcels damaged aftr 2017", ["unknown word 'aftr' at character 24", "'after'"]),
    ("parcels damaged after tomorrow", ["after 'after', not 'tomorrow' (character 23)"]),
    ("after", ["after 'after', at the end of the phrase"]),
    ("in", ["or an area after 'in'"]),
    ("after 2017-02-30", ["'2017-02-30' at character 7 is not a date"]),
    ("between 2017 or 2018", ["expected 'and' after 'between 2017', not 'or' (character 14)"]),
    ("after 2018 before 2017", ["before 2017-01-01 is not later than after (2018-12-31)"]),
    ("after 2017 during 2018", ["'during 2018' at character 12 sets after again (first set at character 1)"]),
    ("top 20000", ["limit must be a whole number from 1 to 10000, not 20000"]),
    ("top 0", ["limit must be a whole number from 1 to 10000, not 0"]),
    ("top 2.5", ["expected a whole number after 'top', not '2.5'"]),
    ("more than 30 damage", ["30 is above 1", "write 30 % for a percentage"]),
    ("more than 150 %", ["150 % is not a percentage from 0 to 100"]),
    ("more than", ["expected a number after 'more than', at the end of the phrase"]),
    ("30 % damage", ["'30' at character 1 does not fit here: a number follows more than"]),
    ("forest first", ["'first' at character 8 does not fit here"]),
    ("broadleaf parcels", ["'broadleaf' at character 1 does not fit here"]),
    ("within 0,0,1", ["expected minx,miny,maxx,maxy or a WKT polygon after 'within', not '0'"]),
    ("within 10,10,20,20,EPSG:999999", ["the area at character 8: unknown CRS"]),
    ("within 20,10,10,20", ["the area at character 8: minx must be below maxx"]),
    ("in POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))", ["the area at character 4: the polygon is not valid"]),
    ("in POLYGON((0 0, 1 0, 1 1, 0 0)", ["the WKT at character 4 has a '(' never closed"]),
    ("in POLYGON((0 0, 400 0, 400 1, 0 0))", ["aoi is not in longitude/latitude (EPSG:4326) range"]),
    ("forest @", ["unexpected character '@' at character 8"]),
])
def test_a_phrase_error_says_which_word_where(text, fragments):
    with pytest.raises(InputError) as raised:
        parse(text, CLASSES)
    assert raised.value.input == "phrase"
    for fragment in fragments:
        assert fragment in str(raised.value)


def test_an_unknown_word_lists_every_valid_word():
    with pytest.raises(InputError) as raised:
        parse("forest parcels xyzzy", CLASSES)
    message = str(raised.value)
    assert "did you mean" not in message  # nothing close to xyzzy
    for word in grammar.KEYWORDS + list(CLASSES) + ["parcels", "sorted"]:
        assert re.search(rf"(^|[ :,]){re.escape(word)}($|[ ,;])", message), word


@pytest.mark.parametrize("query", [
    SearchQuery(),
    SearchQuery(classes=("Dry grass", "forest"), levels=LEVELS, source="both", after=D("2017-08-01"),
                min_fraction=0.07, min_area_ha=0.00001, order="area", descending=False, limit=7),
    SearchQuery(after=D("2017-01-31"), before=D("2017-03-01")),
    SearchQuery(after=D("2016-12-31"), before=D("2017-12-31")),  # not a whole year: between
    SearchQuery(before=D("2017-03-01"), min_fraction=1 / 3, source="sar"),
    SearchQuery(aoi=Polygon([(0.1 + 0.2, 1 / 3), (2, 1e-7), (2.123456789012345, 3)]), order="date"),
    SearchQuery(aoi=Polygon(box(0, 0, 10, 10).exterior, [box(2, 2, 3, 3).exterior.coords])),
    SearchQuery(aoi=MultiPolygon([box(0, 0, 1, 1), box(2, 2, 3, 3)]), order="rank", descending=True),
    SearchQuery(aoi=box(-9.5, 52.9, -9.2, 53.1 + 1e-9)),
])
def test_describe_is_a_phrase_that_reads_back_to_the_query(query):
    assert parse(query.describe(), query.classes) == query


def doc_rows(heading):
    """The rows of the first table under ``heading`` in docs/search-grammar.md, as cell lists."""
    section = DOC.read_text().split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split(" | ") for line in section.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row] for row in rows[2:]]  # past the header and its rule


def code(cell):
    """The text of a cell written as `code`, or None."""
    found = re.fullmatch(r"`(.+)`", cell)
    return found and found.group(1)


def test_the_doc_examples_read_as_it_says():
    section = DOC.read_text().split("\n## Examples\n", 1)[1]
    assert re.search(r"classes in these examples: " + r",\s+".join(f"`{name}`" for name in CLASSES), section)
    rows = doc_rows("Examples")
    assert len(rows) >= 15
    for phrase, reads_as in rows:
        query = parse(code(phrase), CLASSES)
        if code(reads_as):  # a reading written out; otherwise told in words
            assert query.describe() == code(reads_as), phrase
            assert parse(code(reads_as), CLASSES) == query


def test_the_doc_errors_say_what_it_says():
    rows = doc_rows("Errors")
    assert rows
    for phrase, says in rows:
        with pytest.raises(InputError, match=re.escape(code(says))):
            parse(code(phrase), CLASSES)


def test_the_doc_grammar_is_the_modules():
    doc = re.search(r"```ebnf\n(.*?)```", DOC.read_text(), re.S).group(1)
    module = grammar.__doc__.split("::\n\n", 1)[1].split("\n\n", 1)[0]
    assert doc.splitlines() == [line[4:] for line in module.splitlines()]
    for phrase in grammar.ORDER_PHRASES:
        assert f"`{phrase}`" in DOC.read_text()
    ignored = re.search(r"`IGNORED` words .*?: `(.*?)` and the signs\s+`(.*?)`", DOC.read_text(), re.S)
    assert ignored.group(1).split() + ignored.group(2).split() == list(grammar.IGNORED)
