"""FusionClassify's prediction windows as Dask tasks (candela.compute): the same maps and
suggestions as the serial pass, with and without radar, progress with every window, and the
windows really classified by the cluster's worker processes.

The cluster is a real ``distributed.LocalCluster`` (two worker processes, one thread each),
reached by its address. Training stays in this process; each task re-opens the images by path
and carries the fitted forests.
"""


import numpy as np
import pytest
import rasterio

from candela.classification.classify import classify
from candela.datasets.synthetic_fusion import write_fusion_scene
from candela.compute import ClusterError
from helpers.engines import (FilesGone, InlineRemote, assert_ran_on_workers, execute_on_cluster,
                             needs_distributed, on_cluster, tasks_named)

SIZE, WINDOW = 100, 32  # 4 x 4 = 16 windows, those of the last row and column cut short
WINDOWS = (-(-SIZE // WINDOW)) ** 2
SUGGESTIONS = 12


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """Two dates of Sentinel-2 with a cloud, and Sentinel-1 in decibels on a coarser grid (its
    units settled from its values, its pixels resampled onto the map's grid)."""
    return write_fusion_scene(tmp_path_factory.mktemp("scene"), size=SIZE, seed=3, dates=2, cloud=True,
                              sar_units="dB", sar_grid="coarser")


def _inputs(scene, radar):
    optical = [(f"s2_{n}.tif", path) for n, path in enumerate(scene.optical)]
    return optical, [("s1.tif", scene.sar)] if radar else []


def _run(scene, radar, folder, engine=None):
    """What a classification gives: both maps, the suggestions as GeoJSON, the report and the
    progress calls."""
    calls = []
    optical, sar = _inputs(scene, radar)
    result = classify(optical, sar, scene.parcels.iloc[::2], folder, suggestions=SUGGESTIONS, window=WINDOW,
                      engine=engine, progress=lambda fraction, message: calls.append((fraction, message)))
    maps = {}
    for name in ("classification", "confidence"):
        with rasterio.open(result[name]) as found:
            maps[name] = found.read(1)
    return maps, result["suggestions"].to_json(), result["report"], calls


@pytest.fixture(scope="module", params=["with_sar", "without_sar"])
def case(request, scene, tmp_path_factory):
    """``(radar, the serial run)``: the pass every engine's must match."""
    radar = request.param == "with_sar"
    return radar, _run(scene, radar, tmp_path_factory.mktemp("serial"))


def _same(first, second):
    """Bitwise the same maps (no data included), the same suggestions and class areas."""
    (maps1, suggestions1, report1, _), (maps2, suggestions2, report2, _) = first, second
    for name in maps1:
        np.testing.assert_array_equal(maps2[name], maps1[name])
    assert (maps1["classification"] == 0).any() and np.isnan(maps1["confidence"]).any()  # the cloud
    assert suggestions2 == suggestions1
    assert report2["areas"] == report1["areas"] and report2["suggestions"] == report1["suggestions"]
    assert report1["suggestions"]["count"] == SUGGESTIONS


def _window_progress(calls):
    """Once per window, increasing, from the start of classifying to its end."""
    start = calls.index((0.35, "classifying"))
    windows = [fraction for fraction, message in calls[start + 1:] if message == "classifying"]
    assert len(windows) == WINDOWS
    assert all(a < b for a, b in zip(windows, windows[1:])) and windows[-1] == pytest.approx(0.95)
    assert calls[-1] == (1.0, "done")


def test_window_tasks_reopening_the_images_give_the_serial_maps_and_suggestions(scene, case, tmp_path):
    radar, serial = case
    assert ("VV_dB" in serial[2]["features"]) == radar
    tasks = _run(scene, radar, tmp_path, InlineRemote())
    _same(serial, tasks)
    _window_progress(serial[3])
    _window_progress(tasks[3])


@needs_distributed
def test_windows_on_a_local_cluster(scene, case, tmp_path, dask_cluster):
    import distributed

    local, client = dask_cluster
    radar, serial = case
    with distributed.get_task_stream(client) as stream:
        dask = on_cluster(local.scheduler_address, _run, scene, radar, tmp_path)
    _same(serial, dask)
    _window_progress(dask[3])
    # Every window was a task, run by a worker process, not this one.
    tasks = tasks_named(stream, "classify_window")
    assert len(tasks) == WINDOWS
    assert_ran_on_workers(client, tasks)


def test_fusionclassify_through_wps_runs_its_windows_on_the_configured_cluster(scene, tmp_path, dask_cluster, wps,
                                                                              candela_settings, data_root,
                                                                              server_root):
    import shutil

    from candela.vectors.reading import read_features
    from helpers.wps import execute_xml, output_path, outputs_of

    folder = data_root / "dask-fusion"
    folder.mkdir(exist_ok=True)
    optical, sar = _inputs(scene, radar=True)
    for _, path in optical + sar:
        shutil.copy(path, folder / path.name)
    training = tmp_path / "training.geojson"
    training.write_text(scene.parcels.iloc[::2][["class", "geometry"]].to_crs(4326).to_json())
    xml = execute_xml("FusionClassify", [*(("optical_ref", f"dask-fusion/{path.name}") for _, path in optical),
                                         ("sar_ref", f"dask-fusion/{scene.sar.name}"),
                                         ("training", ("b64", training.read_bytes(), "application/geo+json"))],
                      outputs=[("classification", True), ("confidence", True)])
    doc = execute_on_cluster(wps, candela_settings, dask_cluster, xml, "classify_window")
    here = classify(optical, sar, read_features(training), tmp_path / "here")
    for name in ("classification", "confidence"):
        with rasterio.open(output_path(outputs_of(doc)[name], server_root)) as served, \
                rasterio.open(here[name]) as expected:
            np.testing.assert_array_equal(served.read(1), expected.read(1))


def test_a_task_that_cannot_open_the_images_fails_as_the_clusters_fault(scene, tmp_path):
    import shutil

    optical = [(f"s2_{n}.tif", shutil.copy(path, tmp_path / f"s2_{n}.tif")) for n, path in enumerate(scene.optical)]
    with pytest.raises(ClusterError, match="could not open again what the job opened"):
        classify(optical, [], scene.parcels.iloc[::2], tmp_path / "out", window=WINDOW,
                 engine=FilesGone(optical[0][1]))
