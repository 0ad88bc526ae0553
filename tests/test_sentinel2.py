"""Reading Sentinel-2 SAFE products: synthetic ones end to end, and the real L2A in ../shared."""

import re
import shutil
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from lxml import etree
from rasterio.crs import CRS
from rasterio.warp import transform as warp_transform
from shapely.geometry import Point

from candela.datasets import synthetic_s2
from candela.errors import InputError
from candela.safe import container, sentinel2, xml
from candela.safe.archive import extract_zip
from candela.safe.sentinel2 import BANDS, read_product, read_product_info

from helpers.paths import shared_path

WHEN = datetime(2021, 6, 14, 10, 30, 31, 24000, tzinfo=timezone.utc)
L2A_BANDS = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12", "SCL"]
REAL = ("data", "sentinel2", "S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.SAFE")


@pytest.fixture(scope="module")
def l2a(tmp_path_factory):
    return synthetic_s2.write_product(
        tmp_path_factory.mktemp("l2a"), level="L2A", tile="T32TQM", sensing_time=WHEN,
        baseline="04.00", seed=3, cloud_fraction=0.25, crs_epsg=32632, ulx=699960, uly=5000040,
    )


@pytest.fixture(scope="module")
def l1c(tmp_path_factory):
    return synthetic_s2.write_product(
        tmp_path_factory.mktemp("l1c"), level="L1C", tile="T31TCJ", sensing_time=WHEN,
        baseline="03.01", seed=1, spacecraft="Sentinel-2B",
    )


@pytest.fixture(scope="module")
def l2a_zip(tmp_path_factory):
    return synthetic_s2.write_product(
        tmp_path_factory.mktemp("zip"), level="L2A", tile="T32TQM", sensing_time=WHEN,
        baseline="04.00", seed=3, cloud_fraction=0.25, crs_epsg=32632, ulx=699960, uly=5000040, zipped=True,
    )


def copy_product(safe, tmp_path):
    target = tmp_path / safe.name
    shutil.copytree(safe, target)
    return target


def product_without(product, tmp_path, pattern):
    """A copy of ``product`` without its files matching the glob ``pattern``, read."""
    safe = copy_product(product, tmp_path)
    for path in safe.glob(pattern):
        path.unlink()
    return read_product(safe)


def edit_mtd(safe, edit):
    mtd = next(safe.glob("MTD_MSI*.xml"))
    mtd.write_text(edit(mtd.read_text()))


def reflectance(path, offset):
    with rasterio.open(path) as dataset:
        dn = dataset.read(1).astype(np.float64)
    return np.where(dn == 0, np.nan, (dn + offset) / 10000.0)


# Synthetic Level-2A, baseline 04.00


def test_l2a_metadata_round_trip(l2a):
    product = read_product(l2a)
    assert product.path == l2a
    assert product.product_id == l2a.name[: -len(".SAFE")]
    assert re.fullmatch(r"S2A_MSIL2A_20210614T103031_N0400_R\d{3}_T32TQM_\d{8}T\d{6}", product.product_id)
    assert product.level == "L2A"
    assert product.spacecraft == "Sentinel-2A"
    assert product.sensing_time == WHEN
    assert product.sensing_time.tzinfo is not None
    assert product.processing_baseline == "04.00"
    assert product.tile_id == "32TQM"
    assert product.cloud_cover == pytest.approx(synthetic_s2.Scene(120, 3, 0.25).cloud_cover())
    assert 15 < product.cloud_cover < 40
    assert product.crs == CRS.from_epsg(32632)
    assert product.quantification == 10000
    assert product.offsets == dict.fromkeys(BANDS, -1000)
    assert product.transform(10) == Affine(10, 0, 699960, 0, -10, 5000040)
    assert product.transform(60) == Affine(60, 0, 699960, 0, -60, 5000040)
    assert product.shape(10) == (120, 120)
    assert product.shape(20) == (60, 60)
    assert product.shape(60) == (20, 20)
    assert product.bounds(20) == pytest.approx((699960, 5000040 - 1200, 699960 + 1200, 5000040))
    assert product.available_bands() == L2A_BANDS


def test_l2a_footprint_is_the_tile_in_lonlat(l2a):
    product = read_product(l2a)
    left, bottom, right, top = product.bounds(10)
    lons, lats = warp_transform(product.crs, "EPSG:4326", [(left + right) / 2, left + 5], [(bottom + top) / 2, top - 5])
    assert product.footprint.contains(Point(lons[0], lats[0]))
    assert product.footprint.contains(Point(lons[1], lats[1]))
    # lon/lat order: the tile is in northern Italy, longitude ~11.5, latitude ~45.
    assert 10 < product.footprint.centroid.x < 13 and 44 < product.footprint.centroid.y < 46


def test_l2a_band_files_and_values(l2a):
    product = read_product(l2a)
    for band, resolution in [("B04", 10), ("B04", 20), ("B11", 20), ("B09", 60), ("B8A", 60)]:
        path = product.band_path(band, resolution)
        assert path.name.endswith(f"_{band}_{resolution}m.jp2")
        assert path.parent.name == f"R{resolution}m"
        with rasterio.open(path) as dataset:
            assert dataset.transform == product.transform(resolution)
            assert dataset.crs == product.crs
            assert dataset.shape == product.shape(resolution)
        expected = synthetic_s2.expected_reflectance(band, resolution, seed=3, cloud_fraction=0.25)
        np.testing.assert_array_equal(reflectance(path, product.offsets[band]), expected)


def test_l2a_pattern_is_consistent_across_resolutions(l2a):
    product = read_product(l2a)
    fine = reflectance(product.band_path("B03", 10), -1000)
    coarse = reflectance(product.band_path("B03", 20), -1000)
    averaged = fine.reshape(60, 2, 60, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(averaged, coarse, atol=1e-4)
    assert np.isnan(coarse).any() and np.nanstd(coarse) > 0.01


def test_l2a_scene_classification(l2a):
    product = read_product(l2a)
    for resolution in (20, 60):
        with rasterio.open(product.band_path("SCL", resolution)) as dataset:
            scl = dataset.read(1)
        np.testing.assert_array_equal(scl, synthetic_s2.expected_scl(resolution, seed=3, cloud_fraction=0.25))
        assert {0, 3, 4, 8, 9, 10} <= set(np.unique(scl).tolist())
    b02 = reflectance(product.band_path("B02", 20), -1000)
    assert np.array_equal(np.isnan(b02), scl_20(product) == 0)


def scl_20(product):
    with rasterio.open(product.band_path("SCL", 20)) as dataset:
        return dataset.read(1)


def test_l2a_band_falls_back_to_native_resolution(l2a):
    product = read_product(l2a)
    # No B08 at 20 m nor B05 at 10 m in Level-2A products: their native files are used.
    assert product.band_path("B08", 20).name.endswith("_B08_10m.jp2")
    assert product.band_path("B05", 10).name.endswith("_B05_20m.jp2")
    assert product.band_path("SCL", 10).name.endswith("_SCL_20m.jp2")
    assert product.band_path("b2", 60).name.endswith("_B02_60m.jp2")
    assert product.band_path("B02", 20.0) == product.band_path("B02", 20)


def test_l2a_only_some_resolutions(tmp_path):
    safe = synthetic_s2.write_product(tmp_path, resolutions=(60,), bands=("B02", "B8A"))
    product = read_product(safe)
    assert product.available_bands() == ["B02", "B8A", "SCL"]
    assert product.band_path("B8A", 60).name.endswith("_B8A_60m.jp2")
    with pytest.raises(InputError, match=r"^band B02 at 10 m is missing from the product \(it has it at 60 m\)$"):
        product.band_path("B02", 10)


# Synthetic Level-1C, baseline 03.01 (no offsets)


def test_l1c_metadata_round_trip(l1c):
    product = read_product(l1c)
    assert product.level == "L1C"
    assert product.product_id.startswith("S2B_MSIL1C_20210614T103031_N0301_")
    assert product.spacecraft == "Sentinel-2B"
    assert product.sensing_time == WHEN
    assert product.processing_baseline == "03.01"
    assert product.tile_id == "31TCJ"
    assert product.cloud_cover == 0
    assert product.crs == CRS.from_epsg(32631)
    assert product.quantification == 10000
    assert product.offsets == dict.fromkeys(BANDS, 0)
    assert product.transform(20) == Affine(20, 0, 300000, 0, -20, 4900020)
    assert product.available_bands() == list(BANDS)


def test_l1c_one_file_per_band(l1c):
    product = read_product(l1c)
    for band in BANDS:
        path = product.band_path(band, 10)
        assert path.name.endswith(f"_{band}.jp2") and path.parent.name == "IMG_DATA"
        assert product.band_path(band, 60) == path
        native = sentinel2.NATIVE_RESOLUTION[band]
        with rasterio.open(path) as dataset:
            assert dataset.transform == product.transform(native)
    expected = synthetic_s2.expected_reflectance("B12", 20, seed=1)
    np.testing.assert_array_equal(reflectance(product.band_path("B12", 20), 0), expected)


def test_l1c_has_no_scl(l1c):
    with pytest.raises(InputError, match=r"SCL .* exists only in Level-2A"):
        read_product(l1c).band_path("SCL", 20)


# Zipped products


def test_zip_info_without_extracting(l2a_zip, l2a, tmp_path):
    info = read_product_info(l2a_zip)
    folder = read_product(l2a)
    assert info.path == l2a_zip
    for name in ("product_id", "level", "spacecraft", "sensing_time", "processing_baseline", "tile_id",
                 "cloud_cover", "crs", "quantification", "offsets"):
        assert getattr(info, name) == getattr(folder, name), name
    assert info.footprint.equals(folder.footprint)
    assert info.transform(20) == folder.transform(20) and info.shape(60) == folder.shape(60)
    assert info.available_bands() == L2A_BANDS
    with pytest.raises(InputError, match="extract it first"):
        info.band_path("B02", 10)
    assert list(l2a_zip.parent.iterdir()) == [l2a_zip]


def test_zip_must_be_extracted_for_bands(l2a_zip, tmp_path):
    with pytest.raises(InputError, match="zipped"):
        read_product(l2a_zip)
    product = read_product(extract_zip(l2a_zip, tmp_path / "out"))
    assert product.path.parent == tmp_path / "out"
    assert product.band_path("B02", 10).is_file()


def test_zip_info_of_a_folder_reads_the_folder(l1c):
    assert read_product_info(l1c).product_id == read_product(l1c).product_id


def test_zip_info_refuses_oversized_metadata(tmp_path, monkeypatch):
    zipped = synthetic_s2.write_product(tmp_path, zipped=True)
    monkeypatch.setattr(container, "MAX_XML_BYTES", 1000)
    with pytest.raises(InputError, match="larger than"):
        read_product_info(zipped)


def test_zip_without_product_is_refused(tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "x.zip", "w") as archive:
        archive.writestr("folder/readme.txt", "hello")
    with pytest.raises(InputError, match="not a Sentinel-2 product"):
        read_product_info(tmp_path / "x.zip")


def test_zip_of_several_products_is_refused(tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "x.zip", "w") as archive:
        archive.writestr("A.SAFE/MTD_MSIL2A.xml", "<a/>")
        archive.writestr("B.SAFE/MTD_MSIL1C.xml", "<b/>")
    with pytest.raises(InputError, match="several SAFE products"):
        read_product_info(tmp_path / "x.zip")


# Finding products and band files


def test_folder_holding_one_safe(l2a):
    assert read_product(l2a.parent).path == l2a


def test_folder_holding_two_safes(l1c, l2a, tmp_path):
    shutil.copytree(l1c, tmp_path / l1c.name)
    shutil.copytree(l2a, tmp_path / l2a.name)
    with pytest.raises(InputError, match="2 .SAFE products"):
        read_product(tmp_path)


def test_band_files_found_without_image_file_list(l2a, tmp_path):
    safe = copy_product(l2a, tmp_path)
    edit_mtd(safe, lambda text: re.sub(r"\s*<IMAGE_FILE>[^<]*</IMAGE_FILE>", "", text))
    assert "IMAGE_FILE" not in next(safe.glob("MTD_MSI*.xml")).read_text()
    product = read_product(safe)
    assert product.available_bands() == L2A_BANDS
    assert product.band_path("B04", 20).is_file()


def test_missing_band_file(l2a, tmp_path):
    product = product_without(l2a, tmp_path, "GRANULE/*/IMG_DATA/R10m/*_B02_10m.jp2")
    with pytest.raises(InputError) as caught:
        product.band_path("B02", 10)
    assert str(caught.value) == "band B02 at 10 m is missing from the product (it has it at 20 m, 60 m)"
    assert str(tmp_path) not in str(caught.value)
    assert product.band_path("B02", 20).is_file()


def test_missing_band_everywhere(l2a, tmp_path):
    product = product_without(l2a, tmp_path, "GRANULE/*/IMG_DATA/R*m/*_B05_*.jp2")
    assert "B05" not in product.available_bands()
    with pytest.raises(InputError, match=r"^band B05 at 60 m is missing from the product$"):
        product.band_path("B05", 60)
    with pytest.raises(InputError, match=r"^band B10 at 60 m is missing from the product$"):
        product.band_path("B10", 60)


@pytest.mark.parametrize("band", ["B13", "B00", "B8B", "TCI", "", None])
def test_unknown_band(l2a, band):
    with pytest.raises(InputError, match=r"unknown band .*: use B01-B12, B8A \(and SCL for Level-2A\)"):
        read_product(l2a).band_path(band, 10)


@pytest.mark.parametrize("resolution", [30, 0, "ten", None, 10.5])
def test_unknown_resolution(l2a, resolution):
    product = read_product(l2a)
    with pytest.raises(InputError, match="resolution must be 10, 20 or 60 m"):
        product.band_path("B02", resolution)
    with pytest.raises(InputError, match="resolution must be 10, 20 or 60 m"):
        product.transform(resolution)


# Not products, and hostile metadata


def test_empty_folder_is_not_a_product(tmp_path):
    with pytest.raises(InputError, match="not a Sentinel-2 product"):
        read_product(tmp_path)


def test_plain_file_is_not_a_product(tmp_path):
    (tmp_path / "image.tif").write_bytes(b"II*\x00")
    with pytest.raises(InputError, match="not a Sentinel-2 product"):
        read_product(tmp_path / "image.tif")
    with pytest.raises(InputError, match="not a Sentinel-2 product"):
        read_product_info(tmp_path / "image.tif")
    with pytest.raises(InputError, match="not a Sentinel-2 product"):
        read_product(tmp_path / "missing")


def test_metadata_of_another_mission(l2a, tmp_path):
    safe = copy_product(l2a, tmp_path)
    mtd = safe / "MTD_MSIL2A.xml"
    mtd.write_text('<?xml version="1.0"?><LANDSAT_METADATA_FILE><PRODUCT_CONTENTS/></LANDSAT_METADATA_FILE>')
    with pytest.raises(InputError, match="not a Sentinel-2 product"):
        read_product(safe)


def test_metadata_naming_another_spacecraft(l2a, tmp_path):
    safe = copy_product(l2a, tmp_path)
    edit_mtd(safe, lambda text: text.replace(">Sentinel-2A<", ">Landsat-8<"))
    with pytest.raises(InputError, match="not a Sentinel-2 product"):
        read_product(safe)


def test_malformed_metadata(l2a, tmp_path):
    safe = copy_product(l2a, tmp_path)
    edit_mtd(safe, lambda text: text[: len(text) // 2])
    with pytest.raises(InputError, match=r"MTD_MSIL2A\.xml are not well-formed") as caught:
        read_product(safe)
    assert str(tmp_path) not in str(caught.value)


def xxe_document(secret_path):
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<!DOCTYPE n1:Level-2A_User_Product [<!ENTITY xxe SYSTEM "file://{secret_path}">]>\n'
        '<n1:Level-2A_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-2A.xsd">'
        "<n1:General_Info><Product_Info><PRODUCT_URI>&xxe;</PRODUCT_URI></Product_Info></n1:General_Info>"
        "</n1:Level-2A_User_Product>"
    )


def test_external_entity_is_not_expanded(l2a, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-TOKEN")
    document = xxe_document(secret).encode()

    # The parser itself never reads the file ...
    root = etree.fromstring(document, xml.xml_parser())
    assert b"TOP-SECRET-TOKEN" not in etree.tostring(root)
    # ... and documents with a DOCTYPE are refused anyway.
    safe = copy_product(l2a, tmp_path)
    (safe / "MTD_MSIL2A.xml").write_bytes(document)
    with pytest.raises(InputError, match="DOCTYPE") as caught:
        read_product(safe)
    assert "TOP-SECRET-TOKEN" not in str(caught.value)
    assert str(tmp_path) not in str(caught.value)


def test_internal_entity_bomb_is_refused():
    document = (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
        + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
        + "]><r>&i;</r>"
    ).encode()
    # libxml2 may stop it as malformed before the DOCTYPE check: refused either way, unexpanded.
    with pytest.raises(InputError, match="DOCTYPE|not well-formed") as caught:
        xml.parse_xml(document, "MTD_MSIL2A.xml")
    assert "aaaa" not in str(caught.value)


def test_several_granules_are_refused(l2a, tmp_path):
    safe = copy_product(l2a, tmp_path)
    granule = next(safe.glob("GRANULE/*"))
    shutil.copytree(granule, granule.with_name(granule.name + "_2"))
    with pytest.raises(InputError, match="several granules"):
        read_product(safe)


def test_baseline_before_04_has_no_offsets(l2a, tmp_path):
    safe = copy_product(l2a, tmp_path)
    edit_mtd(safe, lambda text: re.sub(r"<BOA_ADD_OFFSET_VALUES_LIST>.*</BOA_ADD_OFFSET_VALUES_LIST>", "",
                                       text, flags=re.S))
    assert read_product(safe).offsets == dict.fromkeys(BANDS, 0)


# The real Level-2A product in ../shared (skipped when absent)


@pytest.fixture(scope="module")
def real():
    return read_product(shared_path(*REAL))


@pytest.mark.shared
def test_real_metadata(real):
    assert real.product_id == "S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454"
    assert real.path.name == REAL[-1]
    assert real.level == "L2A"
    assert real.spacecraft == "Sentinel-2A"
    assert real.tile_id == "29UNU"
    assert real.sensing_time == datetime(2022, 10, 5, 11, 54, 11, 24000, tzinfo=timezone.utc)
    assert real.processing_baseline == "04.00"
    assert real.cloud_cover == pytest.approx(59.769726)
    assert real.crs == CRS.from_epsg(32629)
    assert real.quantification == 10000
    assert real.offsets == dict.fromkeys(BANDS, -1000)
    assert real.shape(10) == (10980, 10980) and real.shape(60) == (1830, 1830)


@pytest.mark.shared
def test_real_grid_matches_the_band_file(real):
    with rasterio.open(real.band_path("B02", 60)) as dataset:
        assert dataset.transform == real.transform(60)
        assert dataset.shape == real.shape(60)
        assert dataset.crs == real.crs
        assert tuple(dataset.bounds) == pytest.approx(real.bounds(60))


@pytest.mark.shared
def test_real_footprint(real):
    left, bottom, right, top = real.bounds(60)
    lons, lats = warp_transform(real.crs, "EPSG:4326", [(left + right) / 2], [(bottom + top) / 2])
    assert real.footprint.contains(Point(lons[0], lats[0]))
    assert -10 < real.footprint.centroid.x < -7 and 52 < real.footprint.centroid.y < 54


@pytest.mark.shared
def test_real_bands(real):
    assert real.band_path("B02", 60).name == "T29UNU_20221005T115411_B02_60m.jp2"
    assert real.band_path("SCL", 20).name == "T29UNU_20221005T115411_SCL_20m.jp2"
    assert "B10" not in real.available_bands() and "SCL" in real.available_bands()
    with pytest.raises(InputError, match=r"^band B02 at 10 m is missing from the product"):
        real.band_path("B02", 10)


@pytest.mark.shared
def test_real_values_with_offset(real):
    with rasterio.open(real.band_path("B04", 60)) as dataset:
        dn = dataset.read(1, window=((900, 1000), (100, 200))).astype(float)
    valid = dn > 0
    value = (dn[valid] + real.offsets["B04"]) / real.quantification
    assert valid.any() and -0.1 < np.median(value) < 0.6


@pytest.mark.shared
def test_shared_data_fixture(shared_data):
    assert Path(shared_data).joinpath(*REAL[1:]).is_dir()
