"""A real server process on 127.0.0.1 (ephemeral port), driven with OWSLib like a user would."""

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone

import pytest
import requests
from owslib.wps import WebProcessingService, monitorExecution
from rasterio.io import MemoryFile

from candela.synthetic import write_product
from conftest import ROOT, write_config
from wpsschema import assert_valid

pytestmark = pytest.mark.live


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """Start ``python wsgi.py`` with a config given by $PYWPS_CFG; yield (base url, data root)."""
    root = tmp_path_factory.mktemp("live")
    data = root / "data"
    data.mkdir()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = write_config(root / "live.cfg", root, url=base, data_roots=[data], candela=dict(allowedhosts="127.0.0.0/8"))
    env = {**os.environ, "PYWPS_CFG": str(config)}
    log = open(root / "server.log", "wb")
    server = subprocess.Popen([sys.executable, "wsgi.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/wps?service=WPS&request=GetCapabilities", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start:\n" + (root / "server.log").read_text()[-3000:])
            time.sleep(0.3)
        yield base, data
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


@pytest.fixture(scope="module")
def product(live):
    _, data = live
    return write_product(data, level="L2A", size_10m=120,
                         sensing_time=datetime(2022, 3, 4, 11, 0, tzinfo=timezone.utc), zipped=True)


@contextmanager
def open_remote_raster(url):
    """The raster at ``url``, read in memory. The MemoryFile must outlive the dataset: freed
    early by the garbage collector, it leaves the dataset reading released memory."""
    response = requests.get(url, timeout=30)
    response.raise_for_status()
    with MemoryFile(response.content) as memory, memory.open() as dataset:
        yield dataset


def test_describe_process_with_owslib(live):
    base, _ = live
    wps = WebProcessingService(f"{base}/wps")
    assert {"Jpeg2Tiff", "ExtractInfo"} <= {p.identifier for p in wps.processes}
    process = wps.describeprocess("Jpeg2Tiff")
    identifiers = {i.identifier for i in process.dataInputs}
    assert {"product", "product_ref", "bands", "resolution", "aoi", "mask_clouds"} <= identifiers
    assert process.processVersion == "1.0.0"


def test_sync_execute_returns_a_downloadable_reference(live, product):
    base, data = live
    wps = WebProcessingService(f"{base}/wps", skip_caps=True)
    execution = wps.execute("Jpeg2Tiff", [("product_ref", product.name), ("bands", "B03,B04"),
                                          ("resolution", "20")],
                            output=[("image", True)], mode="sync")
    assert execution.isSucceded(), execution.errors
    href = execution.processOutputs[0].reference
    assert href.startswith(f"{base}/outputs/")
    with open_remote_raster(href) as image:
        assert image.descriptions == ("B03", "B04")
        assert image.width == 60 and image.res == (20.0, 20.0)


def test_async_execute_polled_to_success(live, product):
    base, _ = live
    wps = WebProcessingService(f"{base}/wps", skip_caps=True)
    execution = wps.execute("Jpeg2Tiff", [("product_ref", product.name), ("bands", "B02"), ("resolution", "60")],
                            output=[("image", True)], mode="async")
    assert execution.statusLocation.startswith(f"{base}/outputs/")
    assert_valid(requests.get(execution.statusLocation, timeout=10).content)
    monitorExecution(execution, sleepSecs=1)
    assert execution.isSucceded(), execution.errors
    with open_remote_raster(execution.processOutputs[0].reference) as image:
        assert image.descriptions == ("B02",)


def test_qgis_plugin_style_request(live, product):
    """The QGIS plugin: every literal sent (empty ones too), output=[], async, polling."""
    base, _ = live
    wps = WebProcessingService(f"{base}/wps", skip_caps=True)
    inputs = [("product_ref", product.name), ("bands", "B8A"), ("resolution", "60"), ("aoi", ""),
              ("mask_clouds", "")]
    execution = wps.execute("Jpeg2Tiff", inputs, output=[])
    monitorExecution(execution, sleepSecs=1)
    assert execution.isSucceded(), execution.errors
    references = {o.identifier: o.reference for o in execution.processOutputs}
    with open_remote_raster(references["image"]) as image:
        assert image.descriptions == ("B8A",)


def test_failed_job_reports_the_problem_to_owslib(live, product):
    base, _ = live
    wps = WebProcessingService(f"{base}/wps", skip_caps=True)
    execution = wps.execute("Jpeg2Tiff", [("product_ref", product.name), ("bands", "SCL,B99")],
                            output=[("image", True)], mode="async")
    monitorExecution(execution, sleepSecs=1)
    # OWSLib reads a ProcessFailed holding an ows:ExceptionReport as status "Exception".
    assert execution.getStatus() in ("ProcessFailed", "Exception") and not execution.isSucceded()
    assert any("B99" in e.text for e in execution.errors)
