"""The results as a knowledge graph: SOSA observations, PROV provenance, GeoSPARQL geometries and
topological functions that answer correctly, kept in step with the store after every run."""

import pytest
import shapely
from pyoxigraph import Literal, NamedNode

from candela.results import geosparql
from candela.results.graph import KnowledgeGraph
from candela.results.records import Observation, Product, Run
from candela.results.store import ResultsStore
from helpers.results import results_url

BASE = "http://127.0.0.1:5000/search/id/"
#: Three parcels in a row: A and B share an edge, C stands apart; a wood holds A and part of B.
A, B, C = shapely.box(18.60, 53.00, 18.61, 53.01), shapely.box(18.61, 53.00, 18.62, 53.01), \
    shapely.box(18.70, 53.00, 18.71, 53.01)
WOOD = shapely.box(18.59, 52.99, 18.615, 53.02)


def wkt(geometry, crs=None):
    text = geometry.wkt if crs is None else f"<{crs}> {geometry.wkt}"
    return Literal(text, datatype=geosparql.WKT_LITERAL)


def observation(name, geometry, fraction, level, sources=("optical", "sar")):
    return Observation(name, geometry, "ranked", {"parcel_id": name}, ("forest",), sources,
                       "2017-07-30", "2017-09-29", 1.0, 1.0, fraction, fraction, fraction, None, level)


@pytest.fixture(params=["sqlite", "postgis"])
def store(request, tmp_path):
    store = ResultsStore(results_url(request.param, tmp_path))
    store.record(Run("ParcelDamage", "1.0.0", job_id="job-1", inputs={"parcels": "http://example.org/p.geojson"}),
                 [Product("change_map", "optical_change", "http://example.org/o.tif", "image/tiff", "optical",
                          shapely.box(18.5, 52.9, 18.8, 53.1), "2017-07-30", "2017-09-29")],
                 [observation("A", A, 0.9, "high"), observation("B", B, 0.4, "middle"),
                  observation("C", C, 0.05, "very low", ("sar",))])
    return store


def labels(graph, where):
    rows = graph.query(f"SELECT DISTINCT ?label WHERE {{ ?parcel a cdl:Parcel ; rdfs:label ?label ; "
                       f"geo:hasGeometry/geo:asWKT ?wkt . {where} }} ORDER BY ?label")
    return [row["label"].value for row in rows]


@pytest.mark.parametrize("relation, expected", [
    ("sfIntersects", ["A", "B"]), ("sfWithin", ["A"]), ("sfOverlaps", ["B"]), ("sfDisjoint", ["C"]),
    ("sfContains", []), ("sfTouches", []),
])
def test_topological_functions_answer_as_shapely_does(store, relation, expected):
    graph = KnowledgeGraph(store, BASE)
    assert labels(graph, f'FILTER(geof:{relation}(?wkt, "{WOOD.wkt}"^^geo:wktLiteral))') == expected


def test_parcels_touching_a_parcel(store):
    graph = KnowledgeGraph(store, BASE)
    where = ('?other rdfs:label "A" ; geo:hasGeometry/geo:asWKT ?a . '
             'FILTER(geof:sfTouches(?wkt, ?a))')
    assert labels(graph, where) == ["B"]


def test_a_literal_in_epsg_4326_is_read_latitude_first():
    lat_lon = shapely.Polygon([(y, x) for x, y in WOOD.exterior.coords])
    function = geosparql.functions()[NamedNode(geosparql.GEOF + "sfWithin")]
    inside = function(wkt(A), wkt(lat_lon, "http://www.opengis.net/def/crs/EPSG/0/4326"))
    assert inside.value == "true"
    assert function(wkt(C), wkt(lat_lon, "http://www.opengis.net/def/crs/EPSG/0/4326")).value == "false"


def test_a_literal_in_a_projected_crs_is_transformed():
    utm = shapely.box(338000, 5874000, 340000, 5876000)  # EPSG:32634 around Toruń (18.6 E, 53.0 N): A, not C
    function = geosparql.functions()[NamedNode(geosparql.GEOF + "sfIntersects")]
    assert function(wkt(A), wkt(utm, "http://www.opengis.net/def/crs/EPSG/0/32634")).value == "true"
    assert function(wkt(C), wkt(utm, "http://www.opengis.net/def/crs/EPSG/0/32634")).value == "false"


@pytest.mark.parametrize("bad", [Literal("POLYGON((0 0"), Literal("POINT(1 1)"),
                                 Literal("<http://example.org/crs> POINT(1 1)", datatype=geosparql.WKT_LITERAL),
                                 Literal("not wkt", datatype=geosparql.WKT_LITERAL)])
def test_what_is_not_a_readable_wkt_literal_is_an_error_not_an_answer(bad):
    function = geosparql.functions()[NamedNode(geosparql.GEOF + "sfIntersects")]
    assert function(wkt(A), bad) is None


def test_observations_with_their_levels_sources_and_provenance(store):
    graph = KnowledgeGraph(store, BASE)
    rows = list(graph.query("""
        SELECT ?label ?fraction ?job ?location WHERE {
          ?obs a sosa:Observation ; sosa:hasFeatureOfInterest ?parcel ; sosa:hasSimpleResult ?fraction ;
               cdl:damageLevel ?level ; cdl:changeSource cdl:optical ; cdl:landCover "forest" ;
               prov:wasGeneratedBy ?run .
          ?level rdfs:label "high"@en .
          ?parcel rdfs:label ?label .
          ?run cdl:jobId ?job .
          ?map prov:wasGeneratedBy ?run ; a cdl:ChangeMap ; prov:atLocation ?location .
        }"""))
    assert [(r["label"].value, float(r["fraction"].value), r["job"].value, r["location"].value) for r in rows] == \
        [("A", 0.9, "job-1", "http://example.org/o.tif")]


def test_periods_are_time_intervals(store):
    graph = KnowledgeGraph(store, BASE)
    rows = graph.query("""
        SELECT ?label WHERE {
          ?obs sosa:hasFeatureOfInterest/rdfs:label ?label ;
               sosa:phenomenonTime/time:hasEnd/time:inXSDDateTimeStamp ?end .
          FILTER(?end > "2017-09-01T00:00:00Z"^^xsd:dateTime)
        } ORDER BY ?label""")
    assert [r["label"].value for r in rows] == ["A", "B", "C"]


def test_the_graph_follows_runs_recorded_after_it_was_made(store):
    first, second = KnowledgeGraph(store, BASE), KnowledgeGraph(store, BASE)
    count = "SELECT (COUNT(?o) AS ?n) WHERE { ?o a sosa:Observation }"
    assert int(next(iter(first.query(count)))["n"].value) == 3
    store.record(Run("ParcelDamage", "1.0.0", job_id="job-2"), observations=[observation("D", C, 0.7, "high")])
    assert int(next(iter(first.query(count)))["n"].value) == 4
    assert int(next(iter(second.query(count)))["n"].value) == 4
    # C and D share a geometry: one parcel, two observations.
    parcels = "SELECT (COUNT(DISTINCT ?p) AS ?n) WHERE { ?o sosa:hasFeatureOfInterest ?p }"
    assert int(next(iter(first.query(parcels)))["n"].value) == 3
    assert first.sync() == 0


def test_an_address_that_is_no_iri_does_not_break_the_graph(store):
    store.record(Run("ParcelDamage", "1.0.0", job_id="odd", inputs={"parcels": ["http://example.org/a b{x}.geojson"]}),
                 [Product("ranking", "ranking", "http://example.org/out put.geojson", "application/geo+json")],
                 [observation("Odd one", C, 0.2, "low")])
    graph = KnowledgeGraph(store, BASE)
    rows = list(graph.query('SELECT ?used ?at WHERE { ?run cdl:jobId "odd" ; prov:used ?used . '
                            '?p prov:wasGeneratedBy ?run ; prov:atLocation ?at }'))
    assert [(r["used"].value, r["at"].value) for r in rows] == \
        [("http://example.org/a b{x}.geojson", "http://example.org/out put.geojson")]
    assert "Odd one" in labels(graph, "")
