"""Jpeg2Tiff's strips as Dask tasks (candela.compute): the same COG, byte for byte, as the serial
pass, progress with every strip, and the strips really read by the cluster's worker processes.

Strips are 16 rows here (the real 1024 would make one strip of these small products): a
product makes 8 strips (7 within the AOI). The strips are cut in this process, so patching
``STRIP_ROWS`` here is enough for the tasks too.
"""


import numpy as np
import pytest
import rasterio

from candela.conversion import jpeg2tiff
from candela.conversion.bandfiles import StripTask, strip_by_path
from candela.datasets import synthetic_s2
from candela.errors import InputError
from candela.rasters.aoi import AOI
from candela.safe.sentinel2 import open_product, read_product
from candela.compute import ClusterError
from helpers.engines import (FilesGone, InlineRemote, assert_ran_on_workers, execute_on_cluster,
                             needs_distributed, on_cluster, tasks_named)

SIZE = 120
STRIP_ROWS = 16
#: A 10 m and a resampled 20 m and 60 m band, and SCL: every way a band is read.
BANDS = ("B02", "B8A", "B01", "SCL")
#: 107 x 109 pixels from row 3 of the tile: strips cut by the AOI at both ends.
AOI_WINDOW = AOI(300035, 4898900, 301100, 4899985, "EPSG:32631")
CASES = [dict(), dict(mask_clouds=True, aoi=AOI_WINDOW)]


@pytest.fixture(scope="module")
def product(tmp_path_factory):
    folder = tmp_path_factory.mktemp("j2t-dask")
    return read_product(synthetic_s2.write_product(folder / "l2a", size_10m=SIZE, cloud_fraction=0.3))


@pytest.fixture(autouse=True)
def small_strips(monkeypatch):
    monkeypatch.setattr(jpeg2tiff, "STRIP_ROWS", STRIP_ROWS)


def _run(product, destination, engine=None, **options):
    """The COG's bytes, bands, tags and nodata, and the progress calls of one convert."""
    calls = []
    result = jpeg2tiff.convert(product, destination, bands=BANDS, engine=engine,
                               progress=lambda fraction, message: calls.append((fraction, message)), **options)
    with rasterio.open(result["path"]) as out:
        read = dict(data=out.read(), tags=out.tags(), nodata=out.nodatavals, descriptions=out.descriptions)
    return dict(bytes=destination.read_bytes(), result=result, calls=calls, **read)


def _strips(product, aoi=None, **_):
    return len(jpeg2tiff.strips(jpeg2tiff.output_window(product, 10, aoi)))


def _same(serial, other):
    """Byte for byte the same COG (and so the same bands, overviews, tags and nodata)."""
    np.testing.assert_array_equal(other["data"], serial["data"])
    assert other["tags"] == serial["tags"] and other["nodata"] == serial["nodata"] == (0,) * len(BANDS)
    assert other["descriptions"] == serial["descriptions"] == BANDS
    assert other["result"] == {**serial["result"], "path": other["result"]["path"]}
    assert other["bytes"] == serial["bytes"]
    assert other["calls"] == serial["calls"]


def _strip_progress(calls, strips):
    """One progress call per strip (there are fewer than ten), in order, up to 0.75; 1.0 at the end."""
    fractions = [fraction for fraction, message in calls if message == "reading bands"]
    assert 2 < strips <= 10 and fractions == pytest.approx([0.75 * n / strips for n in range(1, strips + 1)])
    assert calls[-1][0] == 1.0


@pytest.mark.parametrize("options", CASES)
def test_strip_tasks_reopening_the_band_files_give_the_serial_cog(product, tmp_path, options):
    serial = _run(product, tmp_path / "serial.tif", **options)
    tasks = _run(product, tmp_path / "tasks.tif", InlineRemote(), **options)
    _same(serial, tasks)
    _strip_progress(tasks["calls"], _strips(product, **options))
    data = serial["data"]
    assert (data == 0).any() and (data != 0).any()
    if options.get("mask_clouds"):  # clouds masked in every band, by the SCL each task read
        assert (data[:, data[3] == 0] == 0).all() and not np.isin(data[3], (3, 8, 9, 10)).any()


def test_a_strip_task_names_a_band_it_cannot_open_again(tmp_path):
    """The job opened and decoded the file; a task that cannot is the cluster's fault (a
    ClusterError, logged), and says which band."""
    product = read_product(synthetic_s2.write_product(tmp_path / "p", size_10m=60, resolutions=(10, 20)))
    task = StripTask.of(product, ("B02", "B03"), ("B02", "B03"), 10, False, 10**9)
    strip = jpeg2tiff.strips(jpeg2tiff.output_window(product, 10))[0]
    assert [band.shape for band in strip_by_path(task, strip)] == [(16, 60)] * 2
    path = product.band_path("B03", 10)
    path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 3])
    with pytest.raises(ClusterError, match="could not open again what the job opened") as error:
        strip_by_path(task, strip)
    assert isinstance(error.value.__cause__, InputError) and "band B03" in str(error.value.__cause__)
    assert str(path.parent) not in str(error.value.__cause__), "the input's own message names no server path"


@needs_distributed
@pytest.mark.parametrize("options", CASES)
def test_strips_on_a_local_cluster(product, tmp_path, dask_cluster, monkeypatch, options):
    import distributed

    local, client = dask_cluster
    serial = _run(product, tmp_path / "serial.tif", **options)
    # Read by a relative path here: the tasks, in other folders, find the files all the same.
    monkeypatch.chdir(product.path.parent)
    relative = read_product(product.path.name)
    with distributed.get_task_stream(client) as stream:
        dask = on_cluster(local.scheduler_address, _run, relative, tmp_path / "dask.tif", **options)
    _same(serial, dask)
    strips = _strips(product, **options)
    _strip_progress(dask["calls"], strips)
    # Every strip was a task, run by a worker process, not this one.
    tasks = tasks_named(stream, "strip_by_path")
    assert len(tasks) == strips
    assert_ran_on_workers(client, tasks)


def test_jpeg2tiff_through_wps_reads_its_strips_on_the_configured_cluster(product_zip, tmp_path, dask_cluster, wps,
                                                                         candela_settings, server_root):
    from helpers.wps import execute_xml, output_path, outputs_of

    xml = execute_xml("Jpeg2Tiff", [("product_ref", f"products/{product_zip.name}"), ("bands", "B02,B8A,SCL"),
                                    ("mask_clouds", "true")], outputs=[("image", True)])
    doc = execute_on_cluster(wps, candela_settings, dask_cluster, xml, "strip_by_path")
    with rasterio.open(output_path(outputs_of(doc)["image"], server_root)) as out:
        served, tags = out.read(), out.tags()
    here = jpeg2tiff.convert(open_product(product_zip, tmp_path / "product"), tmp_path / "here.tif",
                             bands=("B02", "B8A", "SCL"), mask_clouds=True)
    with rasterio.open(here["path"]) as local_cog:
        np.testing.assert_array_equal(served, local_cog.read())
        assert tags == local_cog.tags()


def test_a_task_that_cannot_open_the_band_files_fails_as_the_clusters_fault(tmp_path):
    product = read_product(synthetic_s2.write_product(tmp_path / "p", size_10m=60, resolutions=(10, 20)))
    with pytest.raises(ClusterError, match="could not open again what the job opened"):
        jpeg2tiff.convert(product, tmp_path / "out.tif", bands=("B02", "B03"), engine=FilesGone(product.path))
