"""A real server process on 127.0.0.1 (ephemeral port), driven with OWSLib like a user would."""

from datetime import datetime, timezone

import pytest
import requests
from owslib.wps import WebProcessingService, monitorExecution

from candela.datasets.synthetic_s2 import write_product
from helpers.live import open_remote_raster
from helpers.schemas import assert_valid

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def product(live):
    _, data = live
    return write_product(data, level="L2A", size_10m=120,
                         sensing_time=datetime(2022, 3, 4, 11, 0, tzinfo=timezone.utc), zipped=True)


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
