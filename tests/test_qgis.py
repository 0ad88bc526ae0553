"""The QGIS profile at /qgis/wps: every process run from the QGIS WPS plugin, as it builds its
requests (helpers.qgis), on a live server; responses valid against the WPS 1.0.0 schema."""

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import rasterio
from owslib.util import ServiceException
from werkzeug.test import Client

from candela.datasets.synthetic_s2 import write_product
from helpers.live import LiveServer, serve
from helpers.qgis import GEOTIFF, Plugin, PluginError
from processes.declaration import VectorInput
from processes.registry import OPERATIONS
from helpers.rasters import START, landscape, sar_scene, second_date, write_optical, write_sar
from helpers.schemas import assert_valid

pytestmark = pytest.mark.live

NS = {"wps": "http://www.opengis.net/wps/1.0.0", "ows": "http://www.opengis.net/ows/1.1"}
XLINK_NS = {**NS, "xlink": "http://www.w3.org/1999/xlink"}
PARCELS_GML = """<?xml version="1.0" encoding="utf-8"?>
<ogr:FeatureCollection xmlns:ogr="http://ogr.maptools.org/" xmlns:gml="http://www.opengis.net/gml">
  <gml:featureMember><ogr:parcels fid="parcels.0"><ogr:geometryProperty><gml:Point><gml:coordinates>
    1,2</gml:coordinates></gml:Point></ogr:geometryProperty><ogr:id>1</ogr:id></ogr:parcels></gml:featureMember>
  <gml:featureMember><ogr:parcels fid="parcels.1"><ogr:geometryProperty><gml:Point><gml:coordinates>
    3,4</gml:coordinates></gml:Point></ogr:geometryProperty><ogr:id>2</ogr:id></ogr:parcels></gml:featureMember>
</ogr:FeatureCollection>"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The test server (our processes and the test ones) with a data root of small inputs."""
    root = tmp_path_factory.mktemp("qgis")
    data = root / "data"
    data.mkdir()
    write_product(data, level="L2A", size_10m=120, sensing_time=datetime(2022, 3, 4, 11, 0, tzinfo=timezone.utc),
                  zipped=True)
    before = landscape((96, 112))
    write_optical(data / "before.tif", before)
    write_optical(data / "after.tif", second_date(before))
    rng = np.random.default_rng(0)
    for number, image in enumerate(sar_scene(rng, 3, shape=(64, 80)), start=1):
        write_sar(data / f"s1-{number}.tif", image, when=START + timedelta(days=12 * number))
    with LiveServer(root, command=serve(), data_roots=[data]) as live:
        yield live


@pytest.fixture(scope="module")
def plugin(server):
    return Plugin(f"{server.base}/qgis/wps")


def test_describe_process_of_every_qgis_process_is_schema_valid(wps_app):
    client = Client(wps_app)
    for operation in OPERATIONS:
        response = client.get(f"/qgis/wps?service=WPS&version=1.0.0&request=DescribeProcess"
                              f"&identifier={operation.identifier}")
        doc = assert_valid(response.data)
        complex_inputs = doc.xpath("//Input[ComplexData]/ows:Identifier/text()", namespaces=NS)
        layers = [i.identifier for i in operation.inputs if isinstance(i, VectorInput)]  # vector layers only
        assert complex_inputs == layers, f"{operation.identifier}: {complex_inputs} would need a map layer"
    capabilities = assert_valid(client.get("/qgis/wps?service=WPS&request=GetCapabilities").data)
    addresses = set(capabilities.xpath("//ows:HTTP/*/@xlink:href", namespaces=XLINK_NS))
    assert addresses == {"http://127.0.0.1:5000/qgis/wps"}, addresses


def test_qgis_execute_responses_name_the_qgis_service(wps_app):
    client = Client(wps_app)
    doc = assert_valid(client.get("/qgis/wps?service=WPS&version=1.0.0&request=Execute&identifier=Jpeg2Tiff"
                                  "&DataInputs=product_ref=missing.zip").data)
    assert doc.get("serviceInstance").startswith("http://127.0.0.1:5000/qgis/wps?"), doc.get("serviceInstance")


def test_the_plain_wps_profile_is_what_the_plugin_cannot_load(server):
    with pytest.raises(PluginError, match="only vector layers"):
        Plugin(server.wps).widgets("Jpeg2Tiff")


def test_every_process_loads_in_the_plugin_with_layer_pickers_only_for_vectors_and_no_date_widget(plugin):
    for operation in OPERATIONS:
        widgets = plugin.widgets(operation.identifier)
        layers = [name for name, widget in widgets.items() if widget == "layer"]
        assert layers == [i.identifier for i in operation.inputs if isinstance(i, VectorInput)], widgets
        assert "date" not in widgets.values(), (operation.identifier, widgets)
    assert plugin.widgets("SARChangeDetect")["event_day"] == "line"
    assert plugin.widgets("Jpeg2Tiff")["resolution"] == "combo"


def opened(path):
    with rasterio.open(path) as dataset:
        return dataset.profile, dataset.descriptions


def test_jpeg2tiff_from_qgis(plugin, server, tmp_path):
    product = next((server.root / "data").glob("*.zip")).name
    execution = plugin.run("Jpeg2Tiff", texts={"product_ref": product, "bands": "B03,B04"},
                           checked={"resolution": ["20"]})
    assert execution.isSucceded(), execution.errors
    image = next(o for o in execution.processOutputs if o.identifier == "image")
    assert image.mimeType == GEOTIFF and image.reference
    profile, descriptions = opened(plugin.download(execution, tmp_path)["image"])
    assert descriptions == ("B03", "B04") and profile["width"] == 60


def test_extractinfo_from_qgis_takes_a_comma_separated_list(plugin, tmp_path):
    execution = plugin.run("ExtractInfo", texts={"images_ref": "s1-1.tif, s1-2.tif,s1-3.tif"})
    assert execution.isSucceded(), execution.errors
    pairs = json.loads(plugin.download(execution, tmp_path)["pairs"].read_text())
    assert len(pairs["groups"]) == 1 and len(pairs["groups"][0]["pairs"]) == 2, pairs


def test_changedetect_from_qgis(plugin, tmp_path):
    execution = plugin.run("ChangeDetect", texts={"before_ref": "before.tif", "after_ref": "after.tif"})
    assert execution.isSucceded(), execution.errors
    files = plugin.download(execution, tmp_path)
    profile, _ = opened(files["change_map"])
    assert (profile["width"], profile["height"]) == (112, 96) and profile["dtype"] == "float32"


def test_sarchangedetect_from_qgis_with_no_event_date_sent_unasked(plugin, tmp_path):
    execution = plugin.run("SARChangeDetect", texts={"images_ref": "s1-3.tif,s1-1.tif,s1-2.tif"})
    assert execution.isSucceded(), execution.errors
    files = plugin.download(execution, tmp_path)
    for name in ("change_map", "change_mask", "change_date"):
        profile, _ = opened(files[name])
        assert (profile["width"], profile["height"]) == (80, 64)
    summary = json.loads(files["summary"].read_text())
    assert summary["test"] == "omnibus" and len(summary["images"]) == 3, summary


def test_sarchangedetect_from_qgis_with_an_event_day(plugin, tmp_path):
    day = (START + timedelta(days=30)).date().isoformat()
    execution = plugin.run("SARChangeDetect", texts={"images_ref": "s1-1.tif,s1-2.tif,s1-3.tif", "event_day": day})
    assert execution.isSucceded(), execution.errors
    summary = json.loads(plugin.download(execution, tmp_path)["summary"].read_text())
    assert day in json.dumps(summary), summary


def test_trainautoencoder_from_qgis(plugin, tmp_path):
    execution = plugin.run("TrainAutoencoder", texts={"before_ref": "before.tif", "after_ref": "after.tif",
                                                      "model_id": "from-qgis", "epochs": "1"})
    assert execution.isSucceded(), execution.errors
    model = json.loads(plugin.download(execution, tmp_path)["model"].read_text())
    assert model["id"] == "from-qgis" and model["bands"] == ["B02", "B03", "B04", "B08"], model


def test_a_vector_layer_list_and_typed_choice_reach_the_operation(plugin, tmp_path):
    execution = plugin.run("FeatureCounter", texts={"tags": "north, south", "images_ref": "before.tif,after.tif"},
                           checked={"level": ["2"]}, layers={"parcels": PARCELS_GML})
    assert execution.isSucceded(), execution.errors
    result = json.loads(plugin.download(execution, tmp_path)["result"].read_text())
    assert result == {"features": 2, "images": ["before.tif", "after.tif"], "since": None, "level": 2,
                      "tags": ["north", "south"]}


def refusal(error):
    """The OWS exception of a refused request (OWSLib raises it with the response's XML)."""
    exception = assert_valid(str(error.value).encode()).xpath("//ows:Exception", namespaces=NS)[0]
    return exception.get("exceptionCode"), exception.get("locator")


def test_a_required_reference_left_empty_is_named(plugin):
    with pytest.raises(ServiceException) as error:
        plugin.run("Jpeg2Tiff", texts={})
    assert refusal(error) == ("MissingParameterValue", "product_ref")


def test_an_unknown_choice_is_named(plugin):
    with pytest.raises(ServiceException) as error:
        plugin.run("Jpeg2Tiff", texts={"product_ref": "x.zip"}, checked={"resolution": ["30"]})
    assert refusal(error) == ("InvalidParameterValue", "resolution")


def test_a_job_failure_names_the_field_the_plugin_shows(plugin):
    execution = plugin.run("SARChangeDetect", texts={"images_ref": "s1-1.tif,s1-2.tif", "event_day": "yesterday"})
    assert not execution.isSucceded()
    message = " ".join(error.text for error in execution.errors)
    assert "Input event_day" in message and "event_date" not in message, message
    execution = plugin.run("ChangeDetect", texts={"before_ref": "s1-1.tif", "after_ref": "after.tif"})
    message = " ".join(error.text for error in execution.errors)
    assert "Input before_ref" in message, message
