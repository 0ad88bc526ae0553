"""candela.client against a live server, as a notebook would use it, through both protocols
(OGC API - Processes, and WPS 1.0.0 asked for explicitly): processes as methods, async jobs,
uploads and references, outputs downloaded and opened, errors as exceptions."""

import inspect
from datetime import datetime, timezone

import pytest
import rasterio
import requests

from candela.client import Client, ServerError
from candela.client.descriptions import method_name
from candela.datasets.synthetic_s2 import write_product
from helpers.live import LiveServer
from helpers.rasters import landscape, second_date, write_optical
from processes.registry import OPERATIONS

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("client")
    (root / "data").mkdir()
    with LiveServer(root, data_roots=[root / "data"]) as live:
        yield live


@pytest.fixture(scope="module", params=["ogcapi", "wps"])
def client(server, request):
    """The same server through each protocol; any of its addresses names it."""
    if request.param == "ogcapi":
        client = Client(f"{server.base}/wps")  # OGC API, which the server offers
    else:
        client = Client(f"{server.base}/wps", protocol="wps")
    assert client.protocol == request.param
    return client


@pytest.fixture(scope="module")
def product(server):
    return write_product(server.root / "data", level="L2A", size_10m=120, zipped=True,
                         sensing_time=datetime(2022, 3, 4, 11, 0, tzinfo=timezone.utc)).name


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pair")
    before = landscape((64, 80))
    write_optical(folder / "before.tif", before)
    write_optical(folder / "after.tif", second_date(before))
    return folder


def test_method_names_read_like_python():
    assert [method_name(i) for i in ("ChangeDetect", "SARChangeDetect", "Jpeg2Tiff", "ExtractInfo")] == \
        ["change_detect", "sar_change_detect", "jpeg2tiff", "extract_info"]


def test_the_protocol_is_chosen_from_what_the_server_offers(server):
    assert (Client(server.base).protocol, Client(server.base).url) == ("ogcapi", f"{server.base}/ogcapi")
    assert Client(f"{server.base}/ogcapi/").protocol == "ogcapi"
    assert Client(server.base, protocol="wps").url == f"{server.base}/wps"
    assert Client(f"{server.base}/qgis/wps", protocol="wps").url == f"{server.base}/qgis/wps"
    with pytest.raises(ValueError, match="protocol 'soap'"):
        Client(server.base, protocol="soap")


def test_processes_are_described_and_are_methods_with_signatures(client):
    assert {o.identifier for o in OPERATIONS} <= {p.id for p in client.processes()}
    jpeg2tiff = client.describe("Jpeg2Tiff")
    assert "resolution: integer; one of 10, 20, 60; default 10" in repr(jpeg2tiff)
    assert "mask_clouds: boolean; default False" in repr(jpeg2tiff)
    # WPS cannot say a file input is required: CANDELA declares both it and its _ref twin optional
    required = "yes" if client.protocol == "ogcapi" else "None"
    assert f"| `product` | file | {required} |" in jpeg2tiff._repr_markdown_()
    assert [p.name for p in jpeg2tiff.inputs] == ["product", "bands", "resolution", "aoi", "mask_clouds"]
    assert jpeg2tiff.input("product").formats == ("application/zip",)
    assert [(o.name, o.media_types[0]) for o in jpeg2tiff.outputs] == \
        [("image", "image/tiff; subtype=geotiff"), ("metadata", "application/json")]
    assert {"change_detect", "jpeg2tiff", "sar_change_detect"} <= set(dir(client))
    signature = inspect.signature(client.jpeg2tiff)
    assert list(signature.parameters)[0] == "product" and signature.parameters["resolution"].default == 10
    assert "Sentinel-2 product to GeoTIFF" in client.jpeg2tiff.__doc__
    with pytest.raises(AttributeError, match="no process 'nothing'"):
        client.nothing
    with pytest.raises(TypeError, match="Jpeg2Tiff has no input produkt"):
        client.jpeg2tiff(produkt="x.zip")


def test_a_job_by_server_path_downloads_and_opens_its_outputs(client, product, tmp_path):
    job = client.jpeg2tiff(product=product, bands="B03,B04", resolution=60)
    outputs = job.result(poll=0.2)
    assert outputs["metadata"].open()["bands"] == ["B03", "B04"]
    path = outputs["image"].download(tmp_path)
    assert path == tmp_path / "S2_T31TCJ_20220304_60m.tif" and not list(tmp_path.glob("*.part*"))
    with outputs["image"].open(tmp_path) as image:
        assert image.descriptions == ("B03", "B04") and image.width == 20  # 1.2 km at 60 m
    again = client.job(job.url)
    assert (again.id, again.process_id, again.status()["status"]) == (job.id, "Jpeg2Tiff", "successful")


def test_local_files_are_uploaded_and_urls_passed(client, server, pair, tmp_path):
    outputs = client.change_detect(before=str(pair / "before.tif"), after=pair / "after.tif",
                                   method="raw").result(poll=0.2)
    with rasterio.open(outputs["change_map"].download(tmp_path / "out")) as change:
        assert (change.width, change.height) == (80, 64)
    assert outputs["summary"].value["method"] == "raw"
    assert outputs["quicklook"].kind == "image" and outputs["quicklook"].open(tmp_path) == tmp_path / "quicklook.png"
    # A URL: the server fetches it (from where it serves its outputs, here)
    (server.outputs / "inputs").mkdir(parents=True, exist_ok=True)
    (server.outputs / "inputs" / "before.tif").write_bytes((pair / "before.tif").read_bytes())
    again = client.change_detect(before=f"{server.base}/outputs/inputs/before.tif", after=str(pair / "after.tif"),
                                 method="raw").result(poll=0.2)
    assert again["summary"].value["method"] == "raw"
    assert server.log().count("GET /outputs/inputs/before.tif") == {"ogcapi": 1, "wps": 2}[client.protocol]


def test_features_are_uploaded_as_text(client, product, tmp_path):
    (tmp_path / "parcels.geojson").write_text(
        '{"type": "FeatureCollection", "features": [' + ", ".join(
            ['{"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [0, 0]}}'] * 3)
        + "]}")
    result = client.feature_counter(parcels=tmp_path / "parcels.geojson", images=[product, product],
                                    tags=["a", "b"], level=2).result(poll=0.2)["result"].value
    assert (result["features"], result["images"], result["tags"], result["level"]) == \
        (3, [product, product], ["a", "b"], 2)


def test_progress_reaches_100(client, capsys):
    pytest.importorskip("tqdm")
    job = client.sleeper(seconds=1.5)
    assert job.wait(poll=0.2)["progress"] == 100
    shown = capsys.readouterr().err
    assert "Sleeper" in shown and "100/100" in shown, shown


def test_a_partial_download_is_completed(client, product, server, tmp_path):
    output = client.jpeg2tiff(product=product, bands="B02", resolution=60).result(poll=0.2)["image"]
    whole = output.download(tmp_path / "whole").read_bytes()
    # The development server ignores Range (200, the whole file): the client starts again
    assert requests.get(output.href, headers={"Range": "bytes=1000-"}, timeout=10).status_code == 200
    (tmp_path / "again").mkdir()
    (tmp_path / "again" / (output.path.name + ".part")).write_bytes(whole[:1000])
    assert output.download(tmp_path / "again").read_bytes() == whole
    assert [p.name for p in (tmp_path / "again").iterdir()] == [output.path.name]


def test_refused_requests_are_exceptions_naming_the_input(client, product):
    with pytest.raises(ServerError) as refused:
        client.jpeg2tiff(product="missing.zip")
    assert (refused.value.code, refused.value.locator, refused.value.status) == ("InvalidParameterValue", "product", 400)
    with pytest.raises(ServerError) as missing:
        client.jpeg2tiff(bands="B02")
    assert (missing.value.code, missing.value.locator) == ("MissingParameterValue", "product")
    with pytest.raises(ServerError) as wrong:
        client.jpeg2tiff(product=product, resolution=30)
    assert (wrong.value.code, wrong.value.locator) == ("InvalidParameterValue", "resolution")
    with pytest.raises(ServerError) as unknown:
        client.describe("Nothing")
    assert (unknown.value.code, unknown.value.status) == \
        {"ogcapi": ("NoSuchProcess", 404), "wps": ("InvalidParameterValue", 400)}[client.protocol]


def test_a_failed_job_raises_its_message(client, server):
    (server.root / "data" / "not-a-product.zip").write_bytes(b"no zip")
    with pytest.raises(ServerError) as failed:
        client.jpeg2tiff(product="not-a-product.zip").result(poll=0.2)
    assert failed.value.code == "JobFailed" and failed.value.locator == "product", failed.value.message
    assert "not a zipped SAFE product" in failed.value.message


def test_a_reference_twin_named_in_a_failure_is_its_file_input(server):
    client = Client(server.wps, protocol="wps")
    assert "product_ref" not in {p.name for p in client.describe("Jpeg2Tiff").inputs}
    with pytest.raises(ServerError) as failed:  # the twin is checked by the job, not before
        client.jpeg2tiff(product_ref="missing.zip").result(poll=0.2)
    assert "Input product_ref" in failed.value.message and failed.value.locator == "product"


def test_a_job_is_cancelled_where_the_protocol_allows(client):
    if client.protocol == "wps":
        job = client.sleeper(seconds=0.2)
        with pytest.raises(NotImplementedError, match="WPS 1.0.0 has no way to cancel"):
            job.cancel()
        assert job.result(poll=0.2)["result"].value["slept"] == 0.2
        return
    job = client.sleeper(seconds=60)
    job.cancel()
    assert job.wait(poll=0.2, timeout=30)["status"] == "dismissed"
    with pytest.raises(ServerError, match="JobDismissed"):
        job.result(poll=0.2)
