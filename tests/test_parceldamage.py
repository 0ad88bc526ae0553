"""ParcelDamage served: WPS and OGC API - Processes in-process, the QGIS plugin on a live server;
its outputs opened as GIS, spreadsheets and images do, bad inputs named."""

import io
import json
import zipfile

import geopandas as gpd
import pandas
import pytest
from PIL import Image
from werkzeug.test import Client

from helpers.damage import UTM, write_scene
from helpers.live import LiveServer
from helpers.qgis import Plugin
from helpers.schemas import assert_valid
from helpers.jsonschemas import assert_valid as assert_valid_json
from helpers.wps import NS, exception_text, execute_xml, output_path, outputs_of, post

FILES = ("ranking", "ranking_shapefile", "ranking_csv", "quicklook")
REFERENCES = {"optical_change_ref": "damage/optical_change.tif", "sar_change_ref": "damage/sar_change.tif",
              "landcover_ref": "damage/landcover.tif"}


@pytest.fixture(scope="module")
def scene(data_root):
    return write_scene(data_root / "damage")


def parcels_of(scene):
    return gpd.GeoDataFrame(pandas.concat([scene.parcels, scene.outside], ignore_index=True), crs=UTM)


def geojson(features):
    return features.to_crs(4326).to_json().encode()


def run_wps(wps, inputs, parcels):
    xml = execute_xml("ParcelDamage", [*inputs, ("parcels", ("b64", geojson(parcels), "application/geo+json"))],
                      outputs=[*((o, True) for o in FILES), ("summary", False)])
    return assert_valid(post(wps, xml).data)


def test_wps_ranks_the_parcels_and_gives_every_format(wps, scene, server_root):
    doc = run_wps(wps, [*REFERENCES.items(), ("classes", "forest"), ("before", ""), ("after", ""), ("id_field", "name")],
                  parcels_of(scene))
    assert doc.xpath("//wps:ProcessSucceeded", namespaces=NS), exception_text(doc)
    outputs = outputs_of(doc)
    ranking = gpd.read_file(output_path(outputs["ranking"], server_root))
    assert ranking.crs.to_epsg() == 4326 and len(ranking) == 8  # every parcel, the far one too
    by_name = ranking.set_index("name")
    assert by_name.loc["all", "rank"] == 1 and by_name.loc["all", "level"] == "high"
    assert by_name.loc["meadow", "status"] == "no kept classes" and by_name.loc["far", "status"] == "outside the maps"
    assert by_name.loc["clouded", "sources"] == "sar" and by_name.loc["half", "sources"] == "optical+sar"
    assert by_name.loc["all", "in_rank"] == "r3"  # the parcels' own rank, renamed
    shapefile = zipfile.ZipFile(output_path(outputs["ranking_shapefile"], server_root))
    assert sorted(shapefile.namelist()) == [f"ranking.{e}" for e in ("cpg", "dbf", "prj", "shp", "shx")]
    layer = gpd.read_file(f"/vsizip/{output_path(outputs['ranking_shapefile'], server_root)}/ranking.shp")
    assert layer.crs.to_epsg() == 4326 and list(layer["name"]) == list(ranking["name"])  # as the parcels came
    csv = pandas.read_csv(output_path(outputs["ranking_csv"], server_root))
    assert list(csv["name"]) == list(ranking["name"]) and "geometry" not in csv.columns
    with Image.open(output_path(outputs["quicklook"], server_root)) as png:
        assert png.format == "PNG" and max(png.size) <= 1024
    summary = json.loads(outputs["summary"])
    assert summary["kept_classes"] == ["forest"]
    assert summary["period"]["from"] == "DATES tag and PERIOD_START/PERIOD_END tags"
    assert summary["status"] == {"ranked": 6, "outside the maps": 1, "no land cover": 0, "no kept classes": 1,
                                 "no usable pixels": 0}
    assert "path" not in json.dumps(summary).lower()
    # Recorded in the results store: one observation per parcel, named by its "name" attribute.
    from processes.recording import results_store

    store = results_store()
    [run] = [r for r in store.runs() if outputs["ranking"] in [p["href"] for p in r["products"]]]
    assert run["process"] == "ParcelDamage" and run["parameters"]["classes"] == "forest"
    observed = {o["parcel"]: o for o in store.observations([run["key"]])}
    assert set(observed) == set(ranking["name"])
    assert observed["all"]["rank"] == 1 and observed["all"]["classes"] == ["forest"]
    assert observed["clouded"]["sources"] == ["sar"] and observed["meadow"]["damaged_fraction"] is None
    assert observed["all"]["attributes"]["in_rank"] == "r3"
    assert observed["half"]["damaged_ha"] == pytest.approx(by_name.loc["half", "dmg_ha"])
    assert observed["half"]["geometry"].equals_exact(ranking.set_index("name").geometry["half"], 1e-6)  # GeoJSON keeps 7 decimals


@pytest.mark.parametrize("inputs, words", [
    ([("landcover_ref", REFERENCES["landcover_ref"])],
     ["Input optical_change", "neither optical_change nor sar_change"]),
    ([*REFERENCES.items(), ("classes", "forest,spruce")], ["Input classes", "'spruce'", "forest, meadow"]),
    ([("sar_change_ref", REFERENCES["sar_change_ref"]), ("before", "2023-02-30")], ["Input before", "2023-02-30"]),
    ([("sar_change_ref", REFERENCES["sar_change_ref"]), ("classes", "forest")], ["Input classes", "no landcover"]),
    ([("optical_change_ref", REFERENCES["landcover_ref"])], ["Input optical_change", "[0, 1]"]),
    ([("sar_change_ref", REFERENCES["sar_change_ref"]), ("sar_weight", "-1")], ["Input sar_weight", "0 or more"]),
    ([("sar_change_ref", REFERENCES["sar_change_ref"]), ("id_field", "nummer")], ["Input id_field", "'nummer'"]),
])
def test_bad_inputs_are_named(wps, scene, inputs, words):
    doc = run_wps(wps, inputs, scene.parcels)
    text = exception_text(doc)
    assert doc.xpath("//wps:ProcessFailed", namespaces=NS), text
    assert all(word in text for word in words), text
    assert "Traceback" not in text and "/damage/" not in text


def test_points_are_no_parcels(wps, scene):
    points = scene.parcels.assign(geometry=scene.parcels.geometry.centroid)
    text = exception_text(run_wps(wps, [("sar_change_ref", REFERENCES["sar_change_ref"])], points))
    assert "Input parcels" in text and "must be polygons" in text, text


def test_ogc_api_takes_the_parcels_as_a_geojson_object(wps_app, scene):
    client = Client(wps_app)
    response = client.post("/ogcapi/processes/ParcelDamage/execution", json={"inputs": {
        "sar_change": REFERENCES["sar_change_ref"], "parcels": json.loads(geojson(scene.parcels)),
        "threshold": 0.8, "after": "2023-08-20"}})
    assert response.status_code == 200, response.get_data(as_text=True)
    results = assert_valid_json(response.get_json(), "results")
    assert set(results) == {*FILES, "summary"} and results["ranking_csv"]["type"] == "text/csv"
    summary = results["summary"]["value"]
    assert summary["threshold"] == 0.8 and summary["period"]["end"] == "2023-08-20T00:00:00Z"
    assert list(summary["sources"]) == ["sar"] and summary["sources"]["sar"]["usable_parcels"] == 7
    href = results["ranking"]["href"]
    ranking = gpd.read_file(io.BytesIO(client.get(href[len("http://127.0.0.1:5000"):]).data))
    assert "opt_mean" not in ranking.columns and ranking.set_index("name").loc["all", "sar_dmg_fr"] == 1.0


@pytest.mark.live
def test_qgis_runs_it_with_a_gml_layer_and_loads_the_outputs(tmp_path_factory, tmp_path):
    root = tmp_path_factory.mktemp("qgis-damage")
    scene = write_scene(root / "data" / "damage")
    with LiveServer(root, data_roots=[root / "data"]) as server:
        plugin = Plugin(f"{server.base}/qgis/wps")
        widgets = plugin.widgets("ParcelDamage")
        assert widgets["parcels"] == "layer"
        assert {widgets[n] for n in ("optical_change_ref", "landcover_ref", "classes", "before", "after")} == {"line"}
        gml = tmp_path / "parcels.gml"
        parcels_of(scene).to_file(gml, driver="GML")  # as QGIS exports a layer
        execution = plugin.run("ParcelDamage", texts={**REFERENCES, "classes": "forest"},
                               layers={"parcels": gml.read_text()})
        assert execution.isSucceded(), [e.text for e in execution.errors]
        files = plugin.download(execution, tmp_path)
    assert files["ranking_csv"].suffix == ".csv"  # application/csv: the plugin opens it as a table
    assert pandas.read_csv(files["ranking_csv"])["rank"].iloc[0] == 1
    layer = gpd.read_file(f"/vsizip/{files['ranking_shapefile']}")  # the plugin saves it as .zip
    assert len(layer) == 8 and layer.crs == scene.parcels.crs and "in_status" in layer.columns
    summary = json.loads(files["summary"].read_text())
    assert summary["status"]["ranked"] == 6
