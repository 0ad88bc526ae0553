"""FusionClassify served: through WPS, the QGIS plugin's way, OGC API - Processes, sessions that
outlive the server, saved classifiers, and bad inputs named; real BigEarthNet patches end to end."""

import io
import json
import zipfile

import geopandas
import numpy as np
import pytest
import rasterio
import requests

from candela.datasets import bigearthnet
from candela.datasets.synthetic_fusion import CLASSES, sample_points, write_fusion_scene
from candela.results.store import ResultsStore
from helpers.live import LiveServer
from helpers.paths import shared_path
from helpers.qgis import Plugin
from helpers.jsonschemas import assert_valid as assert_valid_json
from helpers.schemas import assert_valid
from helpers.wps import NS, execute_xml, exception_text, outputs_of

pytestmark = pytest.mark.live
OUTPUTS = ("classification", "confidence", "suggestions", "suggestions_shapefile", "report", "classifier")


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return write_fusion_scene(tmp_path_factory.mktemp("data") / "scene", size=120, seed=7)


@pytest.fixture(scope="module")
def server(tmp_path_factory, scene):
    root = tmp_path_factory.mktemp("fusion")
    with LiveServer(root, data_roots=[scene.optical[0].parent.parent]) as live:
        yield live


def references(scene):
    return [("optical_ref", f"scene/{scene.optical[0].name}"), ("sar_ref", f"scene/{scene.sar.name}")]


def geojson(features):
    return features.to_crs(4326).to_json().encode()


def gml(features, tmp_path):
    """Features as GML text, as QGIS exports a layer (OGR's GML driver)."""
    path = tmp_path / "layer.gml"
    features.to_file(path, driver="GML")
    return path.read_text()


def execute(server, inputs, status=True):
    """Run FusionClassify over WPS; the final response document."""
    response = server.post(execute_xml("FusionClassify", inputs, outputs=[(o, True) for o in OUTPUTS],
                                       status=status))
    doc = assert_valid(response.content)
    location = doc.get("statusLocation")
    if location:
        server.wait(location.rsplit("/", 1)[1][:-4], timeout=300)
        doc = assert_valid(requests.get(location, timeout=30).content)
    return doc


def fetched(href):
    response = requests.get(href, timeout=60)
    response.raise_for_status()
    return response.content


def succeeded(doc):
    assert doc.xpath("//wps:ProcessSucceeded", namespaces=NS), exception_text(doc)
    return outputs_of(doc)


def test_wps_run_gives_maps_suggestions_report_and_a_classifier(server, scene, tmp_path):
    training = scene.parcels.iloc[::2][["class", "geometry"]]
    outputs = succeeded(execute(server, [*references(scene), ("training", ("b64", geojson(training),
                                                                           "application/geo+json"))]))
    with rasterio.open(io.BytesIO(fetched(outputs["classification"]))) as classification:
        assert classification.dtypes[0] == "uint8" and json.loads(classification.tags()["CLASSES"]) == sorted(CLASSES)
        assert classification.shape == (120, 120)
    points = geopandas.read_file(io.BytesIO(fetched(outputs["suggestions"])))
    assert len(points) == 20 and points.crs.to_epsg() == 4326 and "predicted" in points.columns
    shapefile = zipfile.ZipFile(io.BytesIO(fetched(outputs["suggestions_shapefile"])))
    assert {name.rsplit(".", 1)[1] for name in shapefile.namelist()} >= {"shp", "shx", "dbf", "prj"}
    report = json.loads(fetched(outputs["report"]))
    assert report["validation"]["best"] in ("features", "decision")
    assert report["session"]["learning_curve"][0]["round"] == 1
    classifier = json.loads(fetched(outputs["classifier"]))
    assert classifier["id"] == report["classifier"] and classifier["classes"] == sorted(CLASSES)
    assert "VV_mean_dB" in classifier["features"]
    recorded = recorded_run(server, outputs["classification"])
    assert recorded["process"] == "FusionClassify" and recorded["summary"]["classes"] == sorted(CLASSES)
    products = {p["name"]: p for p in recorded["products"]}
    assert products["classification"]["kind"] == "landcover" and products["report"]["href"] == outputs["report"]
    assert products["classification"]["properties"]["classes"] == sorted(CLASSES)
    assert products["classification"]["footprint"].contains(scene.parcels.to_crs(4326).union_all().centroid)


def recorded_run(server, href):
    """The run of the results store that made the output at ``href``."""
    store = ResultsStore(f"sqlite:///{server.root / 'results.gpkg'}")
    [run] = [run for run in store.runs() if href in [p["href"] for p in run["products"]]]
    return run


def test_a_session_continues_across_requests_and_a_restart(server, scene, tmp_path):
    first_labels = sample_points(scene, 3, seed=1)[["class", "geometry"]]
    first = json.loads(fetched(succeeded(execute(server, [*references(scene), ("training", (
        "b64", geojson(first_labels), "application/geo+json"))]))["report"]))
    session = first["session"]["id"]
    server.stop()
    server.start()
    more = sample_points(scene, 2, seed=2)[["class", "geometry"]]  # only the new labels are sent
    second = json.loads(fetched(succeeded(execute(server, [*references(scene), ("session", session), (
        "training", ("b64", geojson(more), "application/geo+json"))]))["report"]))
    curve = second["session"]["learning_curve"]
    assert second["session"]["id"] == session and [r["round"] for r in curve] == [1, 2]
    assert [r["labels"] for r in curve] == [12, 20]
    assert second["training"]["samples"] == 20  # earlier labels and new ones trained together


def test_a_saved_classifier_classifies_without_training(server, scene):
    training = scene.parcels.iloc[1::2][["class", "geometry"]]
    trained = succeeded(execute(server, [*references(scene), ("training", ("b64", geojson(training),
                                                                          "application/geo+json"))]))
    model = json.loads(fetched(trained["classifier"]))["id"]
    again = succeeded(execute(server, [*references(scene), ("model", model)]))
    with rasterio.open(io.BytesIO(fetched(trained["classification"]))) as first, \
            rasterio.open(io.BytesIO(fetched(again["classification"]))) as second:
        np.testing.assert_array_equal(first.read(1), second.read(1))


@pytest.mark.parametrize("inputs, blamed", [
    ([("class_field", "landcover")], "class_field"),
    ([("model", "00000000-0000-4000-8000-000000000000")], "model"),
    ([("session", "not-a-session")], "session"),
    ([("fusion", "decision"), ("sar_ref", "")], "fusion"),
])
def test_bad_inputs_are_named(server, scene, inputs, blamed):
    given = dict(references(scene))
    given.update(inputs)
    training = scene.parcels[["class", "geometry"]]
    sent = [(k, v) for k, v in given.items() if v != ""]
    if blamed != "model":
        sent.append(("training", ("b64", geojson(training), "application/geo+json")))
    doc = execute(server, sent)
    assert doc.xpath("//wps:ProcessFailed", namespaces=NS) or doc.xpath("//ows:Exception", namespaces=NS)
    assert f"Input {blamed}" in exception_text(doc), exception_text(doc)


def test_qgis_sends_gml_without_a_mime_type_and_loads_the_outputs_as_layers(server, scene, tmp_path):
    plugin = Plugin(f"{server.base}/qgis/wps")
    widgets = plugin.widgets("FusionClassify")
    assert widgets["training"] == "layer" and widgets["class_column"] == "field"
    training = scene.parcels.iloc[::2][["class", "geometry"]].rename(columns={"class": "cover"})
    execution = plugin.run("FusionClassify", texts={"optical_ref": f"scene/{scene.optical[0].name}",
                                                    "sar_ref": f"scene/{scene.sar.name}", "class_column": "cover"},
                           layers={"training": gml(training, tmp_path)})
    assert execution.isSucceded(), [e.text for e in execution.errors]
    files = plugin.download(execution, tmp_path)
    with rasterio.open(files["classification"]) as classification:
        assert classification.colormap(1)[1][3] == 255  # a paletted layer
    layer = geopandas.read_file(f"/vsizip/{files['suggestions_shapefile']}")  # the plugin saves it as .zip
    assert len(layer) == 20 and "cover" in layer.columns  # filled in, it goes back as training
    assert layer.crs == scene.grid.crs


def test_ogc_api_takes_the_samples_as_a_geojson_object(server, scene):
    training = json.loads(geojson(scene.parcels.iloc[::2][["class", "geometry"]]))
    response = requests.post(f"{server.base}/ogcapi/processes/FusionClassify/execution", timeout=300, json={
        "inputs": {"optical": f"scene/{scene.optical[0].name}", "sar": [f"scene/{scene.sar.name}"],
                   "training": training, "suggestion_count": 5}})
    assert response.status_code == 200, response.text
    results = assert_valid_json(response.json(), "results")
    assert results["report"]["value"]["suggestions"]["count"] == 5
    with rasterio.open(results["classification"]["href"]) as classification:
        assert classification.shape == (120, 120)


@pytest.mark.shared
def test_real_bigearthnet_patches_run_end_to_end(server, scene):
    """Sentinel-2 and Sentinel-1 of a real patch; samples labelled by their NDVI, sent as GeoJSON."""
    patch = bigearthnet.patches(shared_path("data", "bigearthnet"))[0]
    folder = scene.optical[0].parent.parent / "bigearthnet"  # under the server's data root
    optical, sar = bigearthnet.write_patch(patch.s2_folder, patch.s1_folder, folder)
    with rasterio.open(optical) as image:
        b04, b08 = (image.read(image.descriptions.index(b) + 1).astype(float) for b in ("B04", "B08"))
        transform, crs = image.transform, image.crs
    ndvi = (b08 - b04) / (b08 + b04)
    rng = np.random.default_rng(0)
    rows, cols = rng.integers(0, 120, 200), rng.integers(0, 120, 200)
    xs, ys = transform @ (cols + 0.5, rows + 0.5)
    labels = np.where(ndvi[rows, cols] > np.median(ndvi), "vegetation", "sparse")
    training = geopandas.GeoDataFrame({"class": labels}, geometry=geopandas.points_from_xy(xs, ys), crs=crs)
    outputs = succeeded(execute(server, [("optical_ref", f"bigearthnet/{optical.name}"),
                                         ("sar_ref", f"bigearthnet/{sar.name}"),
                                         ("training", ("b64", geojson(training), "application/geo+json"))]))
    report = json.loads(fetched(outputs["report"]))
    assert report["inputs"]["sar"][0]["units"] == "dB"
    assert report["validation"]["by_fusion"]["optical"]["overall_accuracy"] > 0.8  # NDVI is learnable
