"""ChangeDetect and TrainAutoencoder through WPS: in-process, and live with OWSLib on real OSCD crops."""

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
import requests
from rasterio.windows import Window

from candela.errors import InputError
from helpers.live import open_remote_raster
from helpers.paths import shared_path
from helpers.schemas import assert_valid
from helpers.wps import NS, exception_text, execute_xml, output_path, outputs_of, post


def test_change_detect_round_trip(wps, pair, server_root, data_root):
    xml = execute_xml("ChangeDetect", [("before_ref", str(pair / "before.tif")),
                                       ("after_ref", str((pair / "after.tif").relative_to(data_root))),
                                       ("method", ""), ("model", "")],
                      outputs=[("change_map", True), ("quicklook", True), ("summary", False)])
    doc = assert_valid(post(wps, xml).data)
    assert doc.xpath("//wps:ProcessSucceeded", namespaces=NS), exception_text(doc)
    outputs = outputs_of(doc)
    with rasterio.open(output_path(outputs["change_map"], server_root)) as change, \
            rasterio.open(pair / "before.tif") as before:
        assert (change.width, change.height, change.crs, change.transform) == \
            (before.width, before.height, before.crs, before.transform)
        assert change.dtypes == ("float32",)
        values = change.read(1)
    assert values.min() >= 0 and values.max() <= 1
    assert values[36:54, 46:74].mean() > 0.8 and values[:20].mean() < 0.2
    with rasterio.open(output_path(outputs["quicklook"], server_root)) as png:
        assert png.driver == "PNG" and png.count == 4 and (png.width, png.height) == (112, 96)
    summary = json.loads(outputs["summary"])
    assert summary["method"] == "autoencoder" and summary["model"] == "oscd-ae-v1"
    assert 0.05 < summary["changed_fraction"] < 0.2
    assert "path" not in summary


def test_raw_method(wps, pair):
    xml = execute_xml("ChangeDetect", [("before_ref", str(pair / "before.tif")),
                                       ("after_ref", str(pair / "after.tif")), ("method", "raw")],
                      outputs=[("summary", False)])
    doc = assert_valid(post(wps, xml).data)
    summary = json.loads(outputs_of(doc)["summary"])
    assert summary["method"] == "raw" and summary["model"] is None


@pytest.mark.parametrize("inputs, words", [
    ([("after_ref", "pair/after_b05.tif")], ["after", "B08"]),
    ([("after_ref", "pair/after.tif"), ("model", "nope")], ["model", "nope", "oscd-ae-v1"]),
])
def test_bad_inputs_are_named(wps, pair, inputs, words):
    xml = execute_xml("ChangeDetect", [("before_ref", "pair/before.tif"), *inputs], outputs=[("change_map", True)])
    doc = assert_valid(post(wps, xml).data)
    assert doc.xpath("//wps:ProcessFailed", namespaces=NS)
    text = exception_text(doc)
    for word in words:
        assert word in text, text
    assert "Traceback" not in text


def test_a_missing_image_is_named_before_any_job_starts(wps, pair, server_root):
    jobs_before = set((server_root / "work").iterdir())
    xml = execute_xml("ChangeDetect", [("before_ref", "pair/before.tif")], outputs=[("change_map", True)])
    doc = assert_valid(post(wps, xml).data)
    exception = doc.xpath("//ows:Exception", namespaces=NS)[0]
    assert exception.get("exceptionCode") == "MissingParameterValue" and exception.get("locator") == "after"
    assert "after_ref" in exception_text(doc)
    assert set((server_root / "work").iterdir()) == jobs_before


def test_an_unknown_model_lists_the_shipped_models_but_no_user_model(wps, pair, server_root):
    # What the server recognises as a model: a folder with metadata.json and encoder.weights.h5.
    folder = server_root / "models" / "someone-elses-secret-model"
    folder.mkdir(parents=True)
    try:
        for name in ("metadata.json", "encoder.weights.h5"):
            (folder / name).write_text("{}")
        xml = execute_xml("ChangeDetect", [("before_ref", "pair/before.tif"), ("after_ref", "pair/after.tif"),
                                           ("model", "nope")], outputs=[("change_map", True)])
        text = exception_text(assert_valid(post(wps, xml).data))
    finally:
        shutil.rmtree(folder)
    assert "someone-elses-secret-model" not in text, text
    assert "nope" in text and "oscd-ae-v1" in text and "named exactly" in text, text


def test_an_unknown_method_is_refused(wps, pair):
    xml = execute_xml("ChangeDetect", [("before_ref", "pair/before.tif"), ("after_ref", "pair/after.tif"),
                                       ("method", "magic")], outputs=[("change_map", True)])
    response = post(wps, xml)
    doc = assert_valid(response.data)
    assert response.status_code == 400
    assert doc.xpath("//ows:Exception/@locator", namespaces=NS) == ["method"]
    assert "magic" in exception_text(doc) and "raw" in exception_text(doc)


def test_a_target_is_written_into_the_summary_and_the_map(wps, pair, server_root):
    xml = execute_xml("ChangeDetect", [("before_ref", "pair/before.tif"), ("after_ref", "pair/after.tif"),
                                       ("method", "raw"), ("target", "urban")],
                      outputs=[("change_map", True), ("quicklook", True), ("summary", False)])
    doc = assert_valid(post(wps, xml).data)
    assert doc.xpath("//wps:ProcessSucceeded", namespaces=NS), exception_text(doc)
    outputs = outputs_of(doc)
    assert json.loads(outputs["summary"])["target"] == "urban"
    with rasterio.open(output_path(outputs["change_map"], server_root)) as change:
        assert change.tags()["CHANGE_TARGET"] == "urban"
        tags = change.tags()
    # Recorded in the results store, with its quicklook, footprint and period.
    from processes.recording import results_store

    [run] = [r for r in results_store().runs() if outputs["change_map"] in [p["href"] for p in r["products"]]]
    assert run["process"] == "ChangeDetect" and run["parameters"]["target"] == "urban"
    assert run["inputs"] == {"before": ["pair/before.tif"], "after": ["pair/after.tif"]}
    products = {p["kind"]: p for p in run["products"]}
    assert products["change_map"]["source"] == "optical" and products["quicklook"]["media_type"] == "image/png"
    assert products["quicklook"]["href"].endswith(".png")
    assert products["change_map"]["footprint"].equals(products["quicklook"]["footprint"])
    assert products["change_map"]["footprint"].bounds[0] < products["change_map"]["footprint"].bounds[2]
    assert (products["change_map"]["period_start"] or "")[:10] == (tags.get("PERIOD_START") or "")[:10]


def test_an_unknown_target_is_refused_with_the_valid_ones(wps, pair):
    xml = execute_xml("ChangeDetect", [("before_ref", "pair/before.tif"), ("after_ref", "pair/after.tif"),
                                       ("target", "forest")], outputs=[("change_map", True)])
    response = post(wps, xml)
    doc = assert_valid(response.data)
    assert response.status_code == 400
    assert doc.xpath("//ows:Exception/@locator", namespaces=NS) == ["target"]
    text = exception_text(doc)
    assert "forest" in text and all(name in text for name in ("any", "vegetation_loss", "urban")), text


def test_train_a_model_async_then_use_it_and_never_overwrite_it(wps, pair, server_root):
    inputs = [("before_ref", "pair/before.tif"), ("after_ref", "pair/after.tif"), ("model_id", "my-region"),
              ("epochs", "1"), ("seed", "3"), ("bands", "")]
    doc = assert_valid(post(wps, execute_xml("TrainAutoencoder", inputs, outputs=[("model", False)],
                                             status=True)).data)
    status_file = output_path(doc.get("statusLocation"), server_root)
    progress = set()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        status = assert_valid(status_file.read_bytes())
        progress.update(int(p) for p in status.xpath("//wps:ProcessStarted/@percentCompleted", namespaces=NS))
        if status.xpath("//wps:ProcessSucceeded|//wps:ProcessFailed", namespaces=NS):
            break
        time.sleep(0.1)
    assert status.xpath("//wps:ProcessSucceeded", namespaces=NS), exception_text(status)
    assert any(20 < p < 90 for p in progress), progress  # training reports its steps
    metadata = json.loads(outputs_of(status)["model"])
    assert metadata["id"] == "my-region" and metadata["training"]["config"]["seed"] == 3
    assert (server_root / "models" / "my-region" / "encoder.weights.h5").exists()

    xml = execute_xml("ChangeDetect", [("before_ref", "pair/before.tif"), ("after_ref", "pair/after.tif"),
                                       ("model", "my-region")], outputs=[("summary", False)])
    done = assert_valid(post(wps, xml).data)
    assert json.loads(outputs_of(done)["summary"])["model"] == "my-region"

    weights = (server_root / "models" / "my-region" / "encoder.weights.h5").read_bytes()
    again = assert_valid(post(wps, execute_xml("TrainAutoencoder", inputs, outputs=[("model", False)])).data)
    assert "exists already" in exception_text(again)
    assert (server_root / "models" / "my-region" / "encoder.weights.h5").read_bytes() == weights


def test_training_needs_one_after_per_before(wps, pair):
    inputs = [("before_ref", "pair/before.tif"), ("before_ref", "pair/after.tif"),
              ("after_ref", "pair/after.tif"), ("model_id", "x")]
    doc = assert_valid(post(wps, execute_xml("TrainAutoencoder", inputs, outputs=[("model", False)])).data)
    assert "1 images for 2" in exception_text(doc)


@pytest.mark.live
def test_change_detect_on_real_oscd_crops_with_owslib(live, tmp_path):
    from owslib.wps import WebProcessingService

    from candela.datasets import oscd

    root = shared_path("data", "oscd")
    base, data = live
    for index in (1, 2):
        stack = tmp_path / f"bercy_{index}.tif"
        oscd.write_stack(root, "bercy", index, stack, grid_of=1)
        with rasterio.open(stack) as source:
            window = Window(100, 100, 160, 128)
            profile = dict(source.profile, width=160, height=128, transform=source.window_transform(window))
            with rasterio.open(data / f"bercy_{index}.tif", "w", **profile) as crop:
                crop.write(source.read(window=window))
                crop.descriptions = source.descriptions
                crop.update_tags(**source.tags())
    wps = WebProcessingService(f"{base}/wps", skip_caps=True)
    execution = wps.execute("ChangeDetect", [("before_ref", "bercy_1.tif"), ("after_ref", "bercy_2.tif")],
                            output=[("change_map", True), ("summary", False)], mode="sync")
    assert execution.isSucceded(), [e.text for e in execution.errors]
    outputs = {o.identifier: o for o in execution.processOutputs}
    with open_remote_raster(outputs["change_map"].reference) as change, rasterio.open(data / "bercy_1.tif") as before:
        assert (change.width, change.height, change.crs) == (160, 128, before.crs)
        assert change.transform.almost_equals(before.transform)
        values = change.read(1)
    assert np.isfinite(values).all() and 0 <= values.min() and values.max() <= 1
    labels = oscd.read_labels(root, "bercy")[100:228, 100:260]
    if labels.any():
        assert values[labels].mean() > values[~labels].mean()
    assert requests.get(outputs["change_map"].reference, timeout=10).ok


def test_a_trained_model_never_replaces_one_saved_meanwhile(wps_app, tmp_path):
    from processes.models import user_models_dir
    from processes.trainautoencoder import publish

    trained = tmp_path / "trained"
    trained.mkdir()
    (trained / "metadata.json").write_text("{}")
    existing = Path(user_models_dir()) / "raced"
    existing.mkdir(parents=True, exist_ok=True)
    (existing / "metadata.json").write_text('{"theirs": true}')
    with pytest.raises(InputError) as error:
        publish(trained, "raced")
    assert error.value.input == "model_id" and "meanwhile" in str(error.value)
    assert (existing / "metadata.json").read_text() == '{"theirs": true}'
    assert sorted(p.name for p in existing.parent.iterdir() if p.name.startswith(".raced")) == []
    publish(trained, "fresh")
    assert (Path(user_models_dir()) / "fresh" / "metadata.json").read_text() == "{}"
