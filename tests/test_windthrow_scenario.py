"""The forester's question, end to end through live servers: which forest parcels did the
windthrow near Toruń (30 July to 29 September 2017) hit hardest?

The scene is made by the suite (:mod:`candela.datasets.synthetic_windthrow`): on a real
Sentinel-2 crop when ../shared is beside the project, else on a synthetic landscape; forest and
other parcels with known damage in patches of a few pixels, a cloud over one damaged parcel in
the optical "after" image, a Sentinel-1 series with gamma speckle. A live server runs the chain
as a user's notebook would (the Python client, OGC API - Processes): ChangeDetect with
``target=vegetation_loss``, SARChangeDetect, FusionClassify trained from a few polygons,
ParcelDamage over the ``forest`` class, then SemanticSearch over WPS and the SPARQL endpoint.
ParcelDamage and the search run again on a second server whose results store is PostgreSQL +
PostGIS (skipped, saying why, without one).
"""

import io
import json

import geopandas as gpd
import pandas
import pytest
import requests

from candela.client import Client
from candela.datasets.synthetic_windthrow import write_windthrow_scene
from candela.results.store import ResultsStore
from helpers.live import LiveServer
from helpers.paths import SHARED
from helpers.results import results_url
from helpers.schemas import assert_valid
from helpers.wps import NS, exception_text, execute_xml, outputs_of

pytestmark = pytest.mark.live

#: A real Sentinel-2 date with woods and fields (OSCD, Saclay west), where ../shared has it.
REAL_BASE = SHARED / "data" / "oscd" / "images" / "saclay_w" / "imgs_1"
QUESTION = "forest parcels damaged after 2017-08-01 with more than 30 % damage, most damaged first, top 10"
WAIT = dict(progress=False, timeout=600)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("windthrow-data")


@pytest.fixture(scope="module")
def scene(data_root):
    return write_windthrow_scene(data_root / "scene", base=REAL_BASE if REAL_BASE.is_dir() else None)


@pytest.fixture(scope="module")
def server(tmp_path_factory, data_root):
    with LiveServer(tmp_path_factory.mktemp("windthrow-server"), data_roots=[data_root]) as live:
        yield live


def named(scene, path):
    """A scene file as a reference by name under the server's data root."""
    return str(path.relative_to(scene.folder.parent))


@pytest.fixture(scope="module")
def maps(server, scene):
    """The change maps and the land cover, made by the server: their addresses."""
    client = Client(server.base)
    optical = client.change_detect(before=named(scene, scene.before), after=named(scene, scene.after),
                                   target="vegetation_loss").result(**WAIT)
    sar = client.sar_change_detect(images=[named(scene, p) for p in scene.sar],
                                   event_date=scene.event.date().isoformat()).result(**WAIT)
    before_storm = [p for p, when in zip(scene.sar, scene.sar_times) if when < scene.event][-1]
    landcover = client.fusion_classify(optical=[named(scene, scene.before)], sar=[named(scene, before_storm)],
                                       training=named(scene, scene.training)).result(**WAIT)
    return {"optical_change": optical["change_map"].href, "sar_change": sar["change_map"].href,
            "landcover": landcover["classification"].href}


def parcel_damage(server, scene, maps):
    """ParcelDamage over the forest class: the ranking (GeoDataFrame) and the summary."""
    outputs = Client(server.base).parcel_damage(
        parcels=named(scene, scene.parcels), classes="forest", id_field="parcel_id", **maps).result(**WAIT)
    ranking = gpd.read_file(io.BytesIO(requests.get(outputs["ranking"].href, timeout=60).content))
    return ranking.set_index("parcel_id"), outputs["summary"].open()


@pytest.fixture(scope="module")
def ranked(server, scene, maps):
    return parcel_damage(server, scene, maps)


def search(server, phrase):
    """SemanticSearch over WPS 1.0.0: the parcels found, in order."""
    response = server.post(execute_xml("SemanticSearch", [("phrase", phrase)],
                                       outputs=[("parcels", True), ("query", False)]))
    doc = assert_valid(response.content)
    assert doc.xpath("//wps:ProcessSucceeded", namespaces=NS), exception_text(doc)
    outputs = outputs_of(doc)
    found = gpd.read_file(io.BytesIO(requests.get(outputs["parcels"], timeout=60).content))
    return found, json.loads(outputs["query"])


def check_ranking(ranking, scene):
    truth = scene.truth
    forest = [p for p, t in truth.items() if t.landcover == "forest"]
    others = [p for p, t in truth.items() if t.landcover != "forest"]
    # Non-forest parcels are measured over no forest: left out of the ranking, kept in the output.
    assert set(ranking.index) == set(truth)
    assert all(ranking.loc[p, "status"] == "no kept classes" and pandas.isna(ranking.loc[p, "rank"]) for p in others)
    # Every forest parcel ranked, in the true order of damage (truths equal to the percent, e.g.
    # 10 % and a slanted parcel's 10.03 %, in either order).
    ranked = ranking.loc[forest].sort_values("rank")
    assert ranked["status"].eq("ranked").all()
    fractions = [round(truth[p].damaged_fraction, 2) for p in ranked.index]
    assert fractions == sorted(fractions, reverse=True), list(zip(ranked.index, fractions))
    # The clouded parcel is still ranked, from SAR alone.
    [clouded] = [p for p, t in truth.items() if t.clouded]
    assert ranking.loc[clouded, "sources"] == "sar" and ranking.loc[clouded, "opt_valid"] < 0.5
    assert all(ranking.loc[p, "sources"] == "optical+sar" for p in forest if p != clouded)
    # Each parcel's damaged area within 20 % of the truth (undamaged ones: under 2 % of their area).
    for parcel in forest:
        found, true = ranking.loc[parcel, "dmg_ha"], truth[parcel].damaged_ha
        if true > 0:
            assert found == pytest.approx(true, rel=0.2), parcel
        else:
            assert found < 0.02 * truth[parcel].area_ha, parcel


def test_the_ranking_answers_the_forester(ranked, scene):
    ranking, summary = ranked
    check_ranking(ranking, scene)
    assert summary["kept_classes"] == ["forest"]
    assert summary["period"]["start"][:10] == "2017-07-30" and summary["period"]["end"][:10] == "2017-09-29"
    assert summary["thresholds"]["sar"] == pytest.approx(0.99)  # SARChangeDetect's own alpha


def test_the_question_in_words_finds_the_hardest_hit(server, ranked, scene):
    found, query = search(server, QUESTION)
    assert query["understood"] == "forest parcels damaged after 2017-08-01 with at least 30 % damage, " \
                                  "most damaged first, top 10"
    expected = {p for p, t in scene.truth.items() if t.landcover == "forest" and t.damaged_fraction >= 0.5}
    assert set(found["parcel"]) == expected
    assert list(found["damaged_fraction"]) == sorted(found["damaged_fraction"], reverse=True)
    assert set(found["process"]) == {"ParcelDamage"} and found["job_id"].nunique() == 1


def test_the_knowledge_graph_knows_where_the_clouded_parcels_damage_came_from(server, ranked, scene):
    [clouded] = [p for p, t in scene.truth.items() if t.clouded]
    query = f"""
        SELECT ?source ?fraction ?map WHERE {{
          ?obs sosa:hasFeatureOfInterest/cdl:parcelId "{clouded}" ; sosa:hasSimpleResult ?fraction ;
               cdl:changeSource ?source ; prov:wasGeneratedBy ?run .
          ?run prov:used ?map .
        }}"""
    rows = requests.get(f"{server.base}/search/sparql", params={"query": query}, timeout=60).json()
    bindings = rows["results"]["bindings"]
    assert {b["source"]["value"] for b in bindings} == {"urn:candela:vocab#sar"}
    assert float(bindings[0]["fraction"]["value"]) == pytest.approx(scene.truth[clouded].damaged_fraction, rel=0.2)
    assert any(b["map"]["value"].endswith(".tif") for b in bindings)  # the change maps it used


def test_the_change_maps_and_land_cover_are_recorded_with_footprints(server, ranked, maps):
    store = ResultsStore(f"sqlite:///{server.root / 'results.gpkg'}")
    products = {p["href"]: (run["process"], p) for run in store.runs() for p in run["products"]}
    assert products[maps["optical_change"]][0] == "ChangeDetect"
    assert products[maps["sar_change"]][1]["source"] == "sar"
    assert products[maps["landcover"]][1]["kind"] == "landcover"
    assert all(p["footprint"] is not None for _, p in products.values())


def test_on_postgis_the_same_answer(tmp_path_factory, tmp_path, scene, maps, ranked):
    url = results_url("postgis", tmp_path)
    root = tmp_path_factory.mktemp("windthrow-postgis")
    with LiveServer(root, data_roots=[scene.folder.parent], candela={"results": url}) as server:
        ranking, _ = parcel_damage(server, scene, maps)  # the maps fetched from the first server
        check_ranking(ranking, scene)
        found, _ = search(server, QUESTION)
    assert set(found["parcel"]) == {p for p, t in scene.truth.items()
                                    if t.landcover == "forest" and t.damaged_fraction >= 0.5}
    assert list(found["damaged_fraction"]) == sorted(found["damaged_fraction"], reverse=True)
    stored = ResultsStore(url).observations()
    assert {o["parcel"] for o in stored} == set(scene.truth)
    assert not (root / "results.gpkg").exists()  # recorded in PostGIS, not in the embedded file
