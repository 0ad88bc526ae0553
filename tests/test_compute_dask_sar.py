"""SARChangeDetect's windows as Dask tasks (candela.compute): the same three maps as the serial
pass, bit for bit, progress with every window, and the windows really tested by the cluster's
worker processes, each of which opens the series again by path.

The cluster is a real ``distributed.LocalCluster`` (two worker processes, one thread each),
reached by its address (``dask_cluster`` in conftest.py).
"""

import shutil
from datetime import timedelta

import numpy as np
import pytest
import rasterio
from affine import Affine

from candela.change import sar
from candela.compute import ClusterError
from helpers.engines import (FilesGone, InlineRemote, assert_ran_on_workers, execute_on_cluster,
                             needs_distributed, on_cluster, tasks_named)
from helpers.rasters import SAR_TRANSFORM, START, sar_scene, write_sar

WINDOW = 48
SHAPE = (130, 150)  # 3 x 4 = 12 windows of 48
MAPS = ("change_map", "change_mask", "change_date")
#: The omnibus test with the ENL given; the event test with the ENL estimated here (a first pass
#: over the scene whose result the tasks are given); the log-ratio test, whose map has 3 bands.
CASES = [{}, {"event_date": "2023-01-20", "enl": "estimate"}, {"method": "logratio"}]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Four dated images, 12 days apart, as [(name, path)] in no time order: the top-left
    changes from image 3, one pixel has no data in image 1, and image 4 lies on a grid 10 pixels
    wider on the left (read through a warped view, here and in the tasks)."""
    folder = tmp_path_factory.mktemp("sar-series")
    values = sar_scene(np.random.default_rng(11), 4, shape=SHAPE, change_at=3)
    values[0, :, 50, 47] = np.nan  # no data next to a window border, in the image every test reads
    paths = [write_sar(folder / f"s1_{i}.tif", values[i], START + timedelta(days=12 * i)) for i in range(3)]
    wider = np.full((2, SHAPE[0], SHAPE[1] + 10), np.nan, dtype=np.float32)
    wider[:, :, 10:] = values[3]
    paths.append(write_sar(folder / "s1_3.tif", wider, START + timedelta(days=36),
                           transform=SAR_TRANSFORM @ Affine.translation(-10, 0)))
    return [(path.name, path) for path in reversed(paths)]


def _run(images, folder, engine=None, **options):
    """The maps (every band), their tags, the summary and the progress calls of one detect."""
    folder.mkdir()
    calls = []
    result = sar.detect(images, folder, window=WINDOW, engine=engine,
                        progress=lambda fraction, message: calls.append((fraction, message)), **options)
    maps = {}
    for name in MAPS:
        with rasterio.open(result[name]) as out:
            maps[name] = (out.read(), {k: v for k, v in out.tags().items() if k != "TIFFTAG_DATETIME"})
    return maps, result["summary"], calls


def _windows():
    return -(-SHAPE[0] // WINDOW) * -(-SHAPE[1] // WINDOW)


def _same(first, second):
    """The same maps, bit for bit (NaN where NaN), the same tags and the same summary."""
    (maps1, summary1, _), (maps2, summary2, _) = first, second
    for name in MAPS:
        np.testing.assert_array_equal(maps2[name][0], maps1[name][0], err_msg=name)
        assert maps2[name][1] == maps1[name][1], name
    assert np.isnan(maps1["change_map"][0][0, 50, 47]) and maps1["change_mask"][0][0, 50, 47] == sar.NODATA_INDEX
    assert summary2 == summary1


def _window_progress(calls):
    """One progress call per window, increasing, up to the 95 % the quicklook starts at."""
    fractions = [fraction for fraction, message in calls if message == "testing for change"]
    assert len(fractions) == _windows()
    assert all(a < b for a, b in zip(fractions, fractions[1:])) and fractions[-1] == pytest.approx(0.95)
    assert calls[-1] == (1.0, "done")


@pytest.mark.parametrize("options", CASES, ids=["omnibus", "event-estimated-enl", "logratio"])
def test_window_tasks_reopening_the_series_give_the_serial_maps(images, tmp_path, options):
    serial = _run(images, tmp_path / "serial", **options)
    tasks = _run(images, tmp_path / "tasks", InlineRemote(), **options)
    _same(serial, tasks)
    _window_progress(serial[2])
    _window_progress(tasks[2])
    if options.get("enl") == "estimate":
        assert tasks[1]["enl_source"] == "estimated"


def test_window_tasks_read_a_products_calibrated_image(images, tmp_path, monkeypatch):
    """A zipped product is calibrated here, into the output folder; the tasks read that GeoTIFF
    (Sentinel-1 reading and calibration replaced by stand-ins, as in test_sar.py)."""
    import zipfile
    from types import SimpleNamespace

    from candela.conversion import grd2tiff
    from candela.safe import sentinel1

    product = tmp_path / "S1A_IW_GRDH_1SDV_20221220T054312_20221220T054337_046414_058F31_1234.zip"
    with zipfile.ZipFile(product, "w") as archive:
        archive.writestr("product.SAFE/manifest.safe", "<xml/>")
    with rasterio.open(dict(images)["s1_1.tif"]) as source:
        values = source.read()

    def calibrate(product, destination, *, crs=None, resolution=10.0, grid=None, progress=None):
        write_sar(destination, values * 1.5, product.start_time)
        return {"path": str(destination)}

    monkeypatch.setattr(sentinel1, "read_product", lambda path, max_pixels: SimpleNamespace(
        path=path, polarisations=("VV", "VH"), start_time=START - timedelta(days=12)))
    monkeypatch.setattr(grd2tiff, "calibrate", calibrate)
    series = images + [("product.zip", product)]
    serial = _run(series, tmp_path / "serial")
    tasks = _run(series, tmp_path / "tasks", InlineRemote())
    _same(serial, tasks)
    assert tasks[1]["images"][0]["name"] == "product.zip"


@needs_distributed
@pytest.mark.parametrize("options", CASES[:2], ids=["omnibus", "event-estimated-enl"])
def test_windows_on_a_local_cluster(images, tmp_path, dask_cluster, options):
    import distributed

    local, client = dask_cluster
    serial = _run(images, tmp_path / "serial", **options)
    with distributed.get_task_stream(client) as stream:
        dask = on_cluster(local.scheduler_address, _run, images, tmp_path / "dask", **options)
    _same(serial, dask)
    _window_progress(dask[2])
    # Every window was a task, run by a worker process, not this one.
    tasks = tasks_named(stream, "tested_window")
    assert len(tasks) == _windows()
    assert_ran_on_workers(client, tasks)


@needs_distributed
def test_sarchangedetect_through_wps_runs_its_windows_on_the_configured_cluster(images, tmp_path, dask_cluster, wps,
                                                                                candela_settings, data_root,
                                                                                server_root):
    from helpers.wps import execute_xml, output_path, outputs_of

    folder = data_root / "dask-sar"
    folder.mkdir(exist_ok=True)
    for _, path in images:
        shutil.copy(path, folder / path.name)
    xml = execute_xml("SARChangeDetect", [("images_ref", f"dask-sar/{name}") for name, _ in images],
                      outputs=[(name, True) for name in MAPS])
    doc = execute_on_cluster(wps, candela_settings, dask_cluster, xml, "tested_window")
    here = sar.detect(images, tmp_path)
    found = outputs_of(doc)
    for name in MAPS:
        with rasterio.open(output_path(found[name], server_root)) as served, rasterio.open(here[name]) as local_map:
            np.testing.assert_array_equal(served.read(), local_map.read(), err_msg=name)


def test_a_task_that_cannot_open_the_series_fails_as_the_clusters_fault(images, tmp_path):
    copies = [(name, shutil.copy(path, tmp_path / name)) for name, path in images]
    (tmp_path / "out").mkdir()
    with pytest.raises(ClusterError, match="could not open again what the job opened"):
        sar.detect(copies, tmp_path / "out", window=WINDOW, engine=FilesGone(copies[1][1]))
