"""SARChangeDetect over WPS: in-process round trips (schema-valid), bad inputs, and OWSLib live."""

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import rasterio
import requests
from owslib.wps import WebProcessingService, monitorExecution

from candela.rasters.grid import Grid
from helpers.live import open_remote_raster
from helpers.rasters import sar_scene, write_sar
from helpers.schemas import assert_valid
from helpers.wps import NS, data_inputs, exception_text, execute_xml, kvp, output_path, outputs_of, post

START = datetime(2023, 3, 2, 5, 43, 11, tzinfo=timezone.utc)
OUTPUTS = ("change_map", "change_mask", "change_date", "summary", "quicklook")


def write_series(folder, k=3, seed=0):
    """k small dated VV+VH images in ``folder`` (the top-left block changes from image 2)."""
    folder.mkdir(parents=True, exist_ok=True)
    values = sar_scene(np.random.default_rng(seed), k, shape=(64, 96), change_at=2)
    return [write_sar(folder / f"s1_{i}.tif", values[i], START + timedelta(days=12 * i)) for i in range(k)], values


@pytest.fixture(scope="module")
def series(data_root):
    paths, values = write_series(data_root / "sar")
    return [p.relative_to(data_root) for p in paths], values


def succeeded(doc):
    return bool(doc.xpath("//wps:ProcessSucceeded", namespaces=NS))


def test_process_is_advertised_and_described_validly(wps):
    doc = assert_valid(kvp(wps, request="GetCapabilities").data)
    assert "SARChangeDetect" in doc.xpath("//wps:Process/ows:Identifier/text()", namespaces=NS)
    doc = assert_valid(kvp(wps, request="DescribeProcess", identifier="SARChangeDetect").data)
    inputs = set(doc.xpath("//DataInputs/Input/ows:Identifier/text()", namespaces=NS))
    assert inputs == {"images", "images_ref", "alpha", "enl", "event_date", "method", "units"}
    outputs = set(doc.xpath("//ProcessOutputs/Output/ows:Identifier/text()", namespaces=NS))
    assert outputs == set(OUTPUTS)
    assert set(doc.xpath("//Output[ows:Identifier='quicklook']//MimeType/text()", namespaces=NS)) == {"image/png"}
    assert doc.xpath("//Input[ows:Identifier='images']/@maxOccurs", namespaces=NS) == ["50"]


def test_round_trip_by_reference_and_upload(wps, series, data_root, server_root):
    paths, values = series
    # Any order, one image uploaded and two by reference (one under the data root, one absolute).
    inputs = [("images_ref", str(paths[2])),
              ("images", ("b64", (data_root / paths[1]).read_bytes(), "image/tiff; subtype=geotiff")),
              ("images_ref", str(data_root / paths[0])), ("alpha", "0.01"), ("enl", "4.4")]
    xml = execute_xml("SARChangeDetect", inputs, outputs=[(o, o != "summary") for o in OUTPUTS])
    doc = assert_valid(post(wps, xml).data)
    assert succeeded(doc), exception_text(doc)
    found = outputs_of(doc)
    assert set(found) == set(OUTPUTS)
    with rasterio.open(data_root / paths[0]) as first:
        grid = Grid.of(first)
    files = {o: output_path(found[o], server_root) for o in OUTPUTS if o != "summary"}
    with rasterio.open(files["change_map"]) as change_map:
        assert Grid.of(change_map).same_as(grid) and change_map.dtypes == ("float32",)
        probability = change_map.read(1)
    assert 0 <= probability.min() and probability.max() <= 1
    with rasterio.open(files["change_mask"]) as change_mask:
        assert Grid.of(change_mask).same_as(grid) and change_mask.dtypes == ("uint8",)
        mask = change_mask.read(1)
    assert set(np.unique(mask)) == {0, 1}
    assert np.array_equal(mask == 1, probability > 0.99)
    assert mask[:60, :80].mean() > 0.95 and mask[:, 80:].mean() < 0.05
    with rasterio.open(files["change_date"]) as change_date:
        date = change_date.read(1)
    assert (date[:60, :80] == 2).mean() > 0.9
    summary = json.loads(found["summary"])
    assert [image["time"] for image in summary["images"]] == [
        (START + timedelta(days=12 * i)).strftime("%Y-%m-%dT%H:%M:%SZ") for i in range(3)]
    assert summary["images"][1]["name"] == "upload 1" and summary["enl"] == 4.4
    assert files["quicklook"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_qgis_style_empty_optional_literals_mean_defaults(wps, series):
    paths, _ = series
    inputs = [("images_ref", " ".join(str(p) for p in paths)), ("alpha", ""), ("enl", ""), ("event_date", ""),
              ("method", ""), ("units", "")]
    doc = assert_valid(post(wps, execute_xml("SARChangeDetect", inputs, outputs=[("summary", False)])).data)
    assert succeeded(doc), exception_text(doc)
    summary = json.loads(outputs_of(doc)["summary"])
    assert (summary["test"], summary["alpha"], summary["enl"], summary["units"]) == ("omnibus", 0.01, 4.4, "linear")


def test_kvp_event_date_request(wps, series):
    paths, _ = series
    response = kvp(wps, request="Execute", identifier="SARChangeDetect",
                   DataInputs=data_inputs(images_ref=" ".join(str(p) for p in paths), event_date="2023-03-10",
                                          enl="estimate"),
                   ResponseDocument="summary")
    doc = assert_valid(response.data)
    assert succeeded(doc), exception_text(doc)
    summary = json.loads(outputs_of(doc)["summary"])
    assert summary["test"] == "event" and summary["before"] == [1] and summary["after"] == [2, 3]
    assert summary["enl_source"] == "estimated"


def failure(wps, inputs):
    doc = assert_valid(post(wps, execute_xml("SARChangeDetect", inputs, outputs=[("change_map", True)])).data)
    assert doc.xpath("//wps:ProcessFailed", namespaces=NS)
    text = exception_text(doc)
    assert "Traceback" not in text
    return text


def test_bad_inputs_are_reported_naming_the_input(wps, series, data_root):
    paths, values = series
    odd = data_root / "sar-odd"
    odd.mkdir(exist_ok=True)
    hh = write_sar(odd / "hh.tif", values[1], START + timedelta(days=5), descriptions=("HH", "HV"))
    vv = write_sar(odd / "vv.tif", values[1][:1], START + timedelta(days=5), descriptions=("VV",))
    far = write_sar(odd / "far.tif", values[1], START + timedelta(days=5),
                      transform=rasterio.Affine(10, 0, 900000, 0, -10, 5000000))
    decibels = write_sar(odd / "db.tif", 10 * np.log10(values[1]), START + timedelta(days=5))
    first = ("images_ref", str(paths[0]))
    cases = [
        ([first], "images", "at least two images"),
        ([first, ("images_ref", str(hh.relative_to(data_root)))], "images", "HH"),
        ([first, ("images_ref", str(vv.relative_to(data_root)))], "images", "missing VH"),
        ([first, ("images_ref", str(far.relative_to(data_root)))], "images", "does not overlap"),
        ([first, ("images_ref", str(decibels.relative_to(data_root)))], "images", "units=dB"),
        ([first, ("images_ref", str(paths[1])), ("alpha", "1.5")], "alpha", "significance level"),
        ([first, ("images_ref", str(paths[1])), ("enl", "lots")], "enl", "ENL"),
        ([first, ("images_ref", str(paths[1])), ("event_date", "2020-01-01")], "event_date", "after the first"),
    ]
    for inputs, identifier, words in cases:
        text = failure(wps, inputs)
        assert f"Input {identifier}:" in text and words in text, (inputs, text)


def test_choices_are_checked_naming_the_input(wps, series):
    paths, _ = series
    images = [("images_ref", str(p)) for p in paths]
    for identifier, value, allowed in (("units", "furlongs", "linear, dB"), ("method", "magic", "omnibus, logratio")):
        response = post(wps, execute_xml("SARChangeDetect", images + [(identifier, value)],
                                         outputs=[("change_map", True)]))
        doc = assert_valid(response.data)
        assert response.status_code == 400
        assert doc.xpath("//ows:Exception/@locator", namespaces=NS) == [identifier]
        text = exception_text(doc)
        assert f"Input {identifier}:" in text and value in text and allowed in text, text


@pytest.mark.live
def test_owslib_round_trip(live):  # noqa: F811
    base, data = live
    paths, _ = write_series(data / "sar", seed=1)
    wps = WebProcessingService(f"{base}/wps")
    assert "SARChangeDetect" in {p.identifier for p in wps.processes}
    inputs = [("images_ref", str(p.relative_to(data))) for p in reversed(paths)] + [("alpha", "0.05")]
    execution = wps.execute("SARChangeDetect", inputs,
                            output=[("change_map", True), ("change_mask", True), ("summary", False)], mode="async")
    monitorExecution(execution, sleepSecs=1)
    assert execution.isSucceded(), execution.errors
    references = {o.identifier: o.reference for o in execution.processOutputs}
    with open_remote_raster(references["change_map"]) as change_map, rasterio.open(paths[0]) as first:
        assert Grid.of(change_map).same_as(Grid.of(first))
        assert change_map.descriptions[0] == "change_probability"
    with open_remote_raster(references["change_mask"]) as change_mask:
        assert change_mask.read(1)[:60, :80].mean() > 0.95
    summary = next(o for o in execution.processOutputs if o.identifier == "summary")
    text = summary.data[0] if summary.data else requests.get(summary.reference, timeout=10).text
    assert json.loads(text)["alpha"] == 0.05
