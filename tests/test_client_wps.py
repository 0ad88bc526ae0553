"""candela.client against a server offering WPS alone (nothing under /ogcapi): found by its
base URL, and the same notebook scenario as over OGC API."""

from datetime import datetime, timezone

import pytest
import rasterio

from candela.client import Client, ServerError
from candela.datasets.synthetic_s2 import write_product
from helpers.live import SERVE, LiveServer, serve
from helpers.rasters import landscape, second_date, write_optical

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("wps-only")
    (root / "data").mkdir()
    with LiveServer(root, command=serve(SERVE, "--without-ogcapi"), data_roots=[root / "data"]) as live:
        yield live


@pytest.fixture(scope="module")
def client(server):
    return Client(server.base)


def test_without_ogcapi_the_client_speaks_wps(server, client):
    assert (client.protocol, client.url) == ("wps", server.wps)
    assert Client(f"{server.base}/ogcapi").protocol == "wps"  # what the server offers, whatever the address
    with pytest.raises(ValueError, match="no OGC API - Processes or WPS 1.0.0 service answers at .*/ogcapi"):
        Client(server.base, protocol="ogcapi")


def test_a_notebook_session_over_wps(server, client, tmp_path, capsys):
    assert "ChangeDetect" in [p.id for p in client.processes()]
    change_detect = client.describe("ChangeDetect")
    assert [(p.name, p.kind) for p in change_detect.inputs] == \
        [("before", "file"), ("after", "file"), ("method", "string"), ("model", "string"), ("target", "string")]
    assert change_detect.input("method").allowed == ("autoencoder", "raw")
    assert change_detect.input("target").allowed == ("any", "vegetation_loss", "urban")
    assert "method: string; one of autoencoder, raw; default 'autoencoder'" in client.change_detect.__doc__

    before = landscape((48, 56))
    write_optical(tmp_path / "before.tif", before)  # uploaded
    write_optical(server.root / "data" / "after.tif", second_date(before))  # on the server
    job = client.change_detect(before=tmp_path / "before.tif", after="after.tif", method="raw")
    assert job.url.endswith(f"/outputs/{job.id}.xml")
    assert job.wait(poll=0.2)["progress"] == 100
    assert "100/100" in capsys.readouterr().err
    outputs = job.result(poll=0.2, progress=False)
    assert sorted(outputs) == ["change_map", "quicklook", "summary"]
    assert outputs["summary"].open()["method"] == "raw"  # JSON embedded, as data
    path = outputs["change_map"].download(tmp_path / "out")
    assert path == tmp_path / "out" / "change_map.tif"
    with outputs["change_map"].open() as change:
        assert (change.width, change.height) == (56, 48) and change.dtypes == ("float32",)
    with rasterio.open(path) as change:
        assert change.crs.to_epsg() == 32631


def test_errors_over_wps_carry_code_and_locator(server, client):
    with pytest.raises(ServerError) as refused:
        client.change_detect(before="nowhere.tif", after="after.tif")
    assert (refused.value.code, refused.value.locator, refused.value.status) == \
        ("InvalidParameterValue", "before", 400)
    with pytest.raises(ServerError) as wrong:
        client.change_detect(before="after.tif", after="after.tif", method="magic")
    assert (wrong.value.code, wrong.value.locator) == ("InvalidParameterValue", "method")
    (server.root / "data" / "not-a-product.zip").write_bytes(b"no zip")
    with pytest.raises(ServerError) as failed:
        client.jpeg2tiff(product="not-a-product.zip").result(poll=0.2, progress=False)
    assert (failed.value.code, failed.value.locator) == ("JobFailed", "product")


def test_a_product_by_server_path_over_wps(server, client, tmp_path):
    name = write_product(server.root / "data", level="L2A", size_10m=120, zipped=True,
                         sensing_time=datetime(2022, 3, 4, 11, 0, tzinfo=timezone.utc)).name
    outputs = client.jpeg2tiff(product=name, bands="B04", resolution=60, mask_clouds=False).result(
        poll=0.2, progress=False)
    assert outputs["metadata"].value["bands"] == ["B04"]
    assert outputs["image"].download(tmp_path).name == "S2_T31TCJ_20220304_60m.tif"
