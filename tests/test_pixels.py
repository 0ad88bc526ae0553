"""Huge rasters are refused before any work: a sparse 100000 x 100000 GeoTIFF takes 1 MB."""

import json
import re
import time
from datetime import timedelta

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from candela.change import changedetect, sar
from candela.conversion import jpeg2tiff
from candela.errors import InputError
from candela.pairing.extractinfo import extract_info
from candela.learning import training
from candela.learning.autoencoder import TrainingConfig
from candela.rasters.reading import MAX_PIXELS, open_raster
from candela.safe import sentinel1
from candela.safe.sentinel2 import read_product
from candela.datasets.synthetic_s2 import write_product
from helpers.paths import sentinel1_zip
from helpers.rasters import START, write_sar
from helpers.schemas import assert_valid
from helpers.wps import NS, execute_xml, failed_text, outputs_of, post

HUGE = "is 100000 x 100000 pixels x 4 band(s), 40,000,000,000 in all: more than the 2,000,000,000 allowed"


def write_huge(path, descriptions=("B02", "B03", "B04", "B08")):
    """A 100000 x 100000 GeoTIFF of which no block is written (GDAL leaves them out)."""
    profile = dict(driver="GTiff", width=100_000, height=100_000, count=len(descriptions), dtype="uint16",
                   crs="EPSG:32631", transform=from_origin(300000, 5000000, 10, 10), tiled=True,
                   blockxsize=1024, blockysize=1024, SPARSE_OK=True, BIGTIFF="YES")
    with rasterio.open(path, "w", **profile) as out:
        out.descriptions = descriptions
        out.update_tags(ACQUISITION_DATE="2020-01-01T10:00:00Z")
    return path


@pytest.fixture(scope="module")
def huge(data_root):
    path = write_huge(data_root / "huge.tif")
    assert path.stat().st_size < 2**20
    return path


def test_open_raster_counts_pixels_of_every_band(huge, tmp_path):
    with pytest.raises(InputError, match=re.escape(f"the raster {HUGE}")):
        open_raster(huge, max_pixels=MAX_PIXELS)
    small = write_sar(tmp_path / "small.tif", np.ones((2, 3, 5)))
    open_raster(small, max_pixels=30).close()
    with pytest.raises(InputError, match="more than the 29 allowed"):
        open_raster(small, max_pixels=29)


def test_change_detection_refuses_a_huge_raster_before_any_work(huge, pair, tmp_path):
    started = time.monotonic()
    for before, after, name in ((huge, pair / "after.tif", "before"), (pair / "before.tif", huge, "after")):
        with pytest.raises(InputError, match=re.escape(HUGE)) as caught:
            changedetect.detect(before, after, tmp_path / "change.tif", method="raw")
        assert caught.value.input == name
    assert time.monotonic() - started < 10
    assert not (tmp_path / "change.tif").exists()


def test_training_refuses_a_huge_raster(huge, pair):
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match=re.escape(HUGE)):
        training.collect_patches([(pair / "before.tif", huge)], ("B02", "B03", "B04", "B08"), TrainingConfig(), rng)


def test_sar_detection_refuses_images_over_the_limit(tmp_path):
    images = [(f"s1_{i}.tif", write_sar(tmp_path / f"s1_{i}.tif", np.ones((2, 4, 5)), START + timedelta(days=i)))
              for i in range(2)]
    with pytest.raises(InputError, match=r"s1_0.tif: the raster is 5 x 4 pixels x 2 band"):
        sar.detect(images, tmp_path, max_pixels=39)
    assert sar.detect(images, tmp_path, max_pixels=40)["summary"]


def test_sentinel1_products_count_their_measurements():
    pixels = 25931 * 16854 * 2  # VV and VH
    with pytest.raises(InputError, match=r"the product \(its measurements\) is 25931 x 16854 pixels x 2 band"):
        sentinel1.read_product(sentinel1_zip(), require_measurements=False, max_pixels=pixels - 1)
    product = sentinel1.read_product(sentinel1_zip(), require_measurements=False, max_pixels=pixels)
    assert product.polarisations == ("VV", "VH")


def test_jpeg2tiff_counts_the_bands_read_and_each_band_file(tmp_path):
    product = read_product(write_product(tmp_path / "in", level="L1C", size_10m=60))
    with pytest.raises(InputError, match="the product at 10 m is 60 x 60 pixels x 2 band"):
        jpeg2tiff.convert(product, tmp_path / "a.tif", bands=("B02", "B03"), max_pixels=7199)
    # At 60 m the output is 10 x 10, but B02 of Level-1C has only its 10 m file: 60 x 60.
    with pytest.raises(InputError, match="band B02: its file is 60 x 60 pixels x 1 band"):
        jpeg2tiff.convert(product, tmp_path / "b.tif", bands=("B02",), resolution=60, max_pixels=3599)
    assert jpeg2tiff.convert(product, tmp_path / "c.tif", bands=("B02", "B03"), max_pixels=7200)["width"] == 60


def test_extract_info_rejects_a_huge_raster_by_name(huge, tmp_path):
    result = extract_info([("huge.tif", huge)])
    assert result["groups"] == []
    assert result["rejected"] == [{"name": "huge.tif", "reason": f"the raster {HUGE}"}]


def test_huge_rasters_are_refused_through_wps(wps, huge, pair):  # noqa: F811
    xml = execute_xml("ChangeDetect", [("before_ref", "huge.tif"), ("after_ref", "pair/after.tif"), ("method", "raw")],
                      outputs=[("change_map", True)])
    assert f"Input before: the raster {HUGE}" in failed_text(post(wps, xml))
    doc = assert_valid(post(wps, execute_xml("ExtractInfo", [("images_ref", "huge.tif")],
                                             outputs=[("pairs", False)])).data)
    assert json.loads(outputs_of(doc)["pairs"])["rejected"][0]["reason"] == f"the raster {HUGE}"


def test_the_pixel_limit_comes_from_the_configuration(wps, pair, candela_settings):  # noqa: F811
    candela_settings(maxpixels=96 * 112 * 4 - 1)
    xml = execute_xml("ChangeDetect", [("before_ref", "pair/before.tif"), ("after_ref", "pair/after.tif"),
                                       ("method", "raw")], outputs=[("summary", False)])
    assert "Input before: the raster is 112 x 96 pixels x 4 band(s)" in failed_text(post(wps, xml))
    candela_settings(maxpixels=96 * 112 * 4)
    doc = assert_valid(post(wps, xml).data)
    assert doc.xpath("//wps:ProcessSucceeded", namespaces=NS)
