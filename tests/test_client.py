"""candela.client against a live server, as a notebook would use it: processes as methods,
async jobs, uploads and references, outputs downloaded and opened, errors as exceptions."""

import inspect
from datetime import datetime, timezone

import pytest
import rasterio

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


@pytest.fixture(scope="module")
def client(server):
    return Client(f"{server.base}/wps")  # any of its addresses names the server


@pytest.fixture(scope="module")
def product(server):
    return write_product(server.root / "data", level="L2A", size_10m=120, zipped=True,
                         sensing_time=datetime(2022, 3, 4, 11, 0, tzinfo=timezone.utc)).name


def test_method_names_read_like_python():
    assert [method_name(i) for i in ("ChangeDetect", "SARChangeDetect", "Jpeg2Tiff", "ExtractInfo")] == \
        ["change_detect", "sar_change_detect", "jpeg2tiff", "extract_info"]


def test_processes_are_described_and_are_methods_with_signatures(client):
    assert {o.identifier for o in OPERATIONS} <= {p.id for p in client.processes()}
    jpeg2tiff = client.describe("Jpeg2Tiff")
    assert "resolution: integer; one of 10, 20, 60; default 10" in repr(jpeg2tiff)
    assert "| `product` | file | yes |" in jpeg2tiff._repr_markdown_()
    assert {"change_detect", "jpeg2tiff", "sar_change_detect"} <= set(dir(client))
    signature = inspect.signature(client.jpeg2tiff)
    assert list(signature.parameters)[0] == "product" and signature.parameters["resolution"].default == 10
    assert "Sentinel-2 product to GeoTIFF" in client.jpeg2tiff.__doc__
    with pytest.raises(AttributeError, match="no process 'nothing'"):
        client.nothing


def test_a_job_by_server_path_downloads_and_opens_its_outputs(client, product, tmp_path):
    job = client.jpeg2tiff(product=product, bands="B03,B04", resolution=60)
    outputs = job.result(poll=0.2)
    assert outputs["metadata"].open()["bands"] == ["B03", "B04"]
    path = outputs["image"].download(tmp_path)
    assert path.parent == tmp_path and path.suffix == ".tif" and not list(tmp_path.glob("*.part"))
    with outputs["image"].open(tmp_path) as image:
        assert image.descriptions == ("B03", "B04") and image.width == 20  # 1.2 km at 60 m


def test_local_files_are_uploaded(client, tmp_path):
    before = landscape((64, 80))
    write_optical(tmp_path / "before.tif", before)
    write_optical(tmp_path / "after.tif", second_date(before))
    outputs = client.change_detect(before=str(tmp_path / "before.tif"), after=tmp_path / "after.tif",
                                   method="raw").result(poll=0.2)
    with rasterio.open(outputs["change_map"].download(tmp_path / "out")) as change:
        assert (change.width, change.height) == (80, 64)
    assert outputs["summary"].value["method"] == "raw"


def test_a_partial_download_is_completed(client, product, tmp_path):
    output = client.jpeg2tiff(product=product, bands="B02", resolution=60).result(poll=0.2)["image"]
    whole = output.download(tmp_path / "whole").read_bytes()
    (tmp_path / "again").mkdir()
    (tmp_path / "again" / (output.path.name + ".part")).write_bytes(whole[:1000])
    assert output.download(tmp_path / "again").read_bytes() == whole


def test_refused_requests_are_exceptions_naming_the_input(client, product):
    with pytest.raises(ServerError) as refused:
        client.jpeg2tiff(product="missing.zip")
    assert (refused.value.code, refused.value.locator, refused.value.status) == ("InvalidParameterValue", "product", 400)
    with pytest.raises(ServerError) as missing:
        client.jpeg2tiff(bands="B02")
    assert (missing.value.code, missing.value.locator) == ("MissingParameterValue", "product")
    with pytest.raises(ServerError) as wrong:
        client.jpeg2tiff(product=product, resolution=30)
    assert wrong.value.locator == "resolution"


def test_a_failed_job_raises_its_message(client, server):
    (server.root / "data" / "not-a-product.zip").write_bytes(b"no zip")
    with pytest.raises(ServerError) as failed:
        client.jpeg2tiff(product="not-a-product.zip").result(poll=0.2)
    assert failed.value.code == "JobFailed" and failed.value.locator == "product", failed.value.message


def test_a_job_is_cancelled(client):
    job = client.sleeper(seconds=60)
    job.cancel()
    assert job.wait(poll=0.2, timeout=30)["status"] == "dismissed"
    with pytest.raises(ServerError, match="JobDismissed"):
        job.result(poll=0.2)


def test_progress_is_shown_with_tqdm(client, capsys):
    pytest.importorskip("tqdm")
    client.sleeper(seconds=1.5).result(poll=0.2)
    assert "Sleeper" in capsys.readouterr().err
