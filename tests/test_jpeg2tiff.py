import dataclasses

import numpy as np
import pytest
import rasterio
import rasterio.shutil
from rasterio.enums import Resampling
from rasterio.warp import transform_bounds
from rasterio.windows import Window, from_bounds

from candela.datasets import synthetic_s2
from candela.rasters.aoi import AOI
from candela.rasters.dating import acquisition_time
from candela.errors import InputError
from candela.conversion.bandfiles import CLOUD_CLASSES, to_reflectance
from candela.conversion.jpeg2tiff import FALLBACK_NAME, convert, output_name
from candela.safe.sentinel2 import read_product

from helpers.paths import shared_path

SIZE = 120
CLOUDS = 0.3
SCL_CLASSES = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
REAL = "S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.SAFE"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("jpeg2tiff")


@pytest.fixture(scope="module")
def l2a(folder):
    return read_product(synthetic_s2.write_product(folder / "l2a", level="L2A", baseline="04.00", size_10m=SIZE,
                                                cloud_fraction=CLOUDS))


@pytest.fixture(scope="module")
def l1c(folder):
    return read_product(synthetic_s2.write_product(folder / "l1c", level="L1C", baseline="03.01", size_10m=SIZE,
                                                cloud_fraction=CLOUDS))


@pytest.fixture
def damaged(tmp_path):
    """A fresh Level-2A product whose files the test may break."""
    return read_product(synthetic_s2.write_product(tmp_path / "damaged", size_10m=60, resolutions=(10, 20)))


def read(path):
    with rasterio.open(path) as dataset:
        return dataset.read()


def expected(band, resolution=10, window=None):
    """Reflectance x 10000 as the scene defines it, 0 for no data."""
    value = synthetic_s2.expected_reflectance(band, resolution, size_10m=SIZE, cloud_fraction=CLOUDS, window=window)
    return np.where(np.isnan(value), 0, np.rint(value * 10000)).astype(np.uint16)


def dilate(mask):
    """``mask`` grown by one pixel in the 8 directions."""
    padded = np.pad(mask, 1)
    grown = np.zeros_like(mask)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            grown |= padded[dy:dy + mask.shape[0], dx:dx + mask.shape[1]]
    return grown


def test_reflectance_is_the_scene_whatever_the_baseline(l2a, l1c, tmp_path):
    assert l2a.offsets["B02"] == -1000 and l1c.offsets["B02"] == 0
    bands = ("B02", "B03", "B04", "B08")
    new = read(convert(l2a, tmp_path / "l2a.tif", bands=bands)["path"])
    old = read(convert(l1c, tmp_path / "l1c.tif", bands=bands)["path"])
    assert new.dtype == np.uint16 and new.shape == (4, SIZE, SIZE)
    for index, band in enumerate(bands):
        assert np.array_equal(new[index], expected(band))
    assert np.array_equal(new, old)


def test_to_reflectance_applies_offset_and_quantification():
    dn = np.array([0, 500, 1000, 1001, 3000, 65535], dtype=np.uint16)
    assert to_reflectance(dn, -1000, 10000).tolist() == [0, 1, 1, 1, 2000, 64535]
    assert to_reflectance(dn, 0, 5000).tolist() == [0, 1000, 2000, 2002, 6000, 65535]


def test_20m_band_at_10m_is_bilinear_like_rasterio(l2a, tmp_path):
    out = read(convert(l2a, tmp_path / "b8a.tif", bands=("B8A",))["path"])[0].astype(np.int32)
    with rasterio.open(l2a.band_path("B8A", 20)) as band:
        bilinear = band.read(1, out_shape=(SIZE, SIZE), resampling=Resampling.bilinear).astype(np.int32) - 1000
        native = band.read(1).astype(np.int32)
    nearest = np.where(native == 0, 0, native - 1000).repeat(2, axis=0).repeat(2, axis=1)
    # Next to no data, the bilinear kernel mixes in zeros: convert takes the nearest pixel there.
    edge = dilate(native == 0).repeat(2, axis=0).repeat(2, axis=1)
    assert edge.any() and not edge.all()
    assert np.array_equal(out[~edge], bilinear[~edge])
    assert np.all((out[edge] == bilinear[edge]) | (out[edge] == nearest[edge]))
    assert np.any(out[edge] != bilinear[edge])
    assert np.array_equal(out == 0, nearest == 0) and np.array_equal(out == 0, expected("B8A") == 0)


def test_10m_band_at_20m_is_bilinear_like_rasterio(l2a, tmp_path):
    # Level-2A products have no 20 m B08: it is read from the 10 m file.
    out = read(convert(l2a, tmp_path / "b08.tif", bands=("B08",), resolution=20)["path"])[0]
    with rasterio.open(l2a.band_path("B08", 10)) as band:
        assert band.res == (10, 10)
        dn = band.read(1, out_shape=(SIZE // 2, SIZE // 2), resampling=Resampling.bilinear).astype(np.int32)
    assert np.array_equal(out, np.where(dn == 0, 0, np.clip(dn - 1000, 1, 65535)))


def test_scl_is_copied_with_nearest_neighbour(l2a, tmp_path):
    at_10m = read(convert(l2a, tmp_path / "scl10.tif", bands=("SCL",))["path"])[0]
    at_60m = read(convert(l2a, tmp_path / "scl60.tif", bands=("SCL",), resolution=60)["path"])[0]
    assert set(np.unique(at_10m)) <= SCL_CLASSES
    assert np.array_equal(at_10m, synthetic_s2.expected_scl(10, size_10m=SIZE, cloud_fraction=CLOUDS))
    assert np.array_equal(at_60m, synthetic_s2.expected_scl(60, size_10m=SIZE, cloud_fraction=CLOUDS))


def test_scl_is_downsampled_with_nearest_neighbour(tmp_path):
    # Without R60m, the 60 m SCL comes from the 20 m file: every class kept, none invented.
    product = read_product(synthetic_s2.write_product(tmp_path, size_10m=SIZE, resolutions=(20,), cloud_fraction=CLOUDS))
    at_60m = read(convert(product, tmp_path / "scl.tif", bands=("SCL",), resolution=60)["path"])[0]
    assert np.array_equal(at_60m, synthetic_s2.expected_scl(60, size_10m=SIZE, cloud_fraction=CLOUDS))


def test_mask_clouds_zeroes_exactly_cloud_shadow_and_nodata(l2a, tmp_path):
    bands = ("B02", "B8A", "SCL")
    plain = read(convert(l2a, tmp_path / "plain.tif", bands=bands)["path"])
    masked = read(convert(l2a, tmp_path / "masked.tif", bands=bands, mask_clouds=True)["path"])
    scl = synthetic_s2.expected_scl(10, size_10m=SIZE, cloud_fraction=CLOUDS)
    cloudy = np.isin(scl, CLOUD_CLASSES)
    assert {3, 8, 9, 10} <= set(np.unique(scl)) and cloudy.any() and not cloudy.all()
    assert not masked[:, cloudy].any()
    assert np.array_equal(masked[:, ~cloudy], plain[:, ~cloudy]) and masked[:, ~cloudy].all()
    # SCL is read even when not asked for as a band.
    alone = read(convert(l2a, tmp_path / "alone.tif", bands=("B02",), mask_clouds=True)["path"])
    assert np.array_equal(alone[0], masked[0])


def test_aoi_in_a_projected_crs_is_snapped_outward(l2a, tmp_path):
    aoi = AOI(300155, 4899000, 300505, 4899555, "EPSG:32631")
    result = convert(l2a, tmp_path / "crop.tif", bands=("B02", "SCL"), aoi=aoi)
    assert (result["width"], result["height"]) == (36, 56)
    assert result["transform"] == (10.0, 0.0, 300150.0, 0.0, -10.0, 4899560.0)
    with rasterio.open(result["path"]) as dataset:
        assert dataset.transform == rasterio.Affine(*result["transform"])
        crop = dataset.read()
    assert np.array_equal(crop[0], expected("B02", window=Window(15, 46, 36, 56)))

    at_60m = convert(l2a, tmp_path / "crop60.tif", bands=("B02",), resolution=60, aoi=aoi)
    assert (at_60m["width"], at_60m["height"]) == (7, 10)
    assert at_60m["transform"] == (60.0, 0.0, 300120.0, 0.0, -60.0, 4899600.0)


def test_aoi_in_lonlat_gives_the_enclosing_window(l2a, tmp_path):
    aoi = AOI(0.5, 44.218, 0.505, 44.222)
    full = read(convert(l2a, tmp_path / "full.tif", bands=("B02",))["path"])[0]
    result = convert(l2a, tmp_path / "lonlat.tif", bands=("B02",), aoi=aoi)
    bounds = transform_bounds("EPSG:4326", l2a.crs, *aoi.bounds, densify_pts=21)
    window = from_bounds(*bounds, transform=l2a.transform(10))
    col0, row0 = int(np.floor(window.col_off)), int(np.floor(window.row_off))
    col1, row1 = int(np.ceil(window.col_off + window.width)), int(np.ceil(window.row_off + window.height))
    assert (result["width"], result["height"]) == (col1 - col0, row1 - row0)
    assert result["transform"][2] == 300000 + 10 * col0 and result["transform"][5] == 4900020 - 10 * row0
    assert np.array_equal(read(result["path"])[0], full[row0:row1, col0:col1])
    # An AOI partly outside the tile is cut to it.
    beyond = AOI(300900, 4898000, 305000, 4899000, "EPSG:32631")
    over_edge = convert(l2a, tmp_path / "edge.tif", bands=("B02",), aoi=beyond)
    assert (over_edge["width"], over_edge["height"]) == (30, 18)


def test_output_is_a_cloud_optimized_geotiff(tmp_path):
    product = read_product(synthetic_s2.write_product(tmp_path / "big", size_10m=1200, bands=("B02",), resolutions=(10,)))
    destination = tmp_path / "out" / "cog.tif"
    destination.parent.mkdir()
    convert(product, destination, bands=("B02",))
    assert [p.name for p in destination.parent.iterdir()] == ["cog.tif"]  # no temporary file left
    with rasterio.open(destination) as dataset:
        profile = dataset.profile
        assert dataset.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert dataset.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == "2"
        assert dataset.overviews(1) == [2, 4]
    assert profile["tiled"] and profile["compress"] == "deflate" and profile["nodata"] == 0
    assert (profile["blockxsize"], profile["blockysize"]) == (512, 512)
    # GDAL's COG layout: the IFDs come before the image data, announced in a leading ghost area.
    head = destination.read_bytes()[:400]
    assert head[:4] == b"II*\x00" and b"LAYOUT=IFDS_BEFORE_DATA" in head


def test_descriptions_tags_and_acquisition_date(l2a, tmp_path):
    result = convert(l2a, tmp_path / "tags.tif", bands=("b04", "B8A", "SCL"), resolution="20")
    assert result["bands"] == ["B04", "B8A", "SCL"] and result["resolution"] == 20
    assert (result["width"], result["height"], result["crs"]) == (SIZE // 2, SIZE // 2, "EPSG:32631")
    with rasterio.open(result["path"]) as dataset:
        assert dataset.descriptions == ("B04", "B8A", "SCL")
        tags = dataset.tags()
        assert acquisition_time(dataset) == l2a.sensing_time
    assert tags["PRODUCT_ID"] == l2a.product_id and tags["TILE_ID"] == "31TCJ"
    assert tags["SPACECRAFT"] == "Sentinel-2A" and tags["PROCESSING_BASELINE"] == "04.00"
    assert tags["PROCESSING_LEVEL"] == "L2A" and float(tags["CLOUD_COVER"]) == pytest.approx(l2a.cloud_cover)
    assert tags["ACQUISITION_DATE"] == "2022-10-05T10:56:21.024000Z" == tags["SENSING_TIME"]
    assert result["tags"] == {k: v for k, v in tags.items() if k != "AREA_OR_POINT"}


def test_strips_do_not_change_the_result(l2a, tmp_path, monkeypatch):
    kwargs = dict(bands=("B02", "B8A", "B01", "SCL"), mask_clouds=True,
                  aoi=AOI(300035, 4898900, 301100, 4899985, "EPSG:32631"))
    whole = read(convert(l2a, tmp_path / "whole.tif", **kwargs)["path"])
    # Strips of 7 rows, not aligned with anything: every strip boundary case at once.
    monkeypatch.setattr("candela.conversion.jpeg2tiff.STRIP_ROWS", 7)
    calls = []
    strips = read(convert(l2a, tmp_path / "strips.tif", progress=lambda *call: calls.append(call), **kwargs)["path"])
    assert np.array_equal(strips, whole) and whole.shape == (4, 109, 107)
    assert len(calls) <= 15


def test_progress_is_coarse_and_reaches_one(l2a, tmp_path):
    calls = []
    convert(l2a, tmp_path / "progress.tif", progress=lambda fraction, message: calls.append((fraction, message)))
    fractions = [fraction for fraction, _ in calls]
    assert fractions == sorted(fractions) and fractions[0] == 0 and fractions[-1] == 1
    assert len(calls) <= 15 and all(isinstance(message, str) for _, message in calls)


@pytest.mark.parametrize("kwargs, problem", [
    (dict(bands=("B02", "B13")), "unknown band 'B13'"),
    (dict(bands=("B02", "b02")), "B02 is asked for twice"),
    (dict(bands=()), "no band"),
    (dict(resolution=30), "resolution must be 10, 20 or 60"),
    (dict(aoi=AOI(-60, -30, -59, -29)), "does not intersect tile 31TCJ"),
    (dict(aoi=AOI(200000, 4800000, 250000, 4850000, "EPSG:32631")), "does not intersect tile 31TCJ"),
])
def test_bad_requests_say_what_is_wrong(l2a, tmp_path, kwargs, problem):
    with pytest.raises(InputError, match=problem):
        convert(l2a, tmp_path / "never.tif", **kwargs)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("kwargs, problem", [
    (dict(bands=("B02", "SCL")), "SCL .* only in Level-2A"),
    (dict(mask_clouds=True), "only be masked in Level-2A"),
])
def test_level_1c_has_no_scene_classification(l1c, tmp_path, kwargs, problem):
    with pytest.raises(InputError, match=problem):
        convert(l1c, tmp_path / "never.tif", **kwargs)


def test_missing_band_file_is_named(damaged, tmp_path):
    # Written at 10 and 20 m only: B01 (60 m native, no 60 m folder) is absent.
    with pytest.raises(InputError, match="B01") as error:
        convert(damaged, tmp_path / "never.tif", bands=("B02", "B01"))
    assert str(tmp_path) not in str(error.value)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_damaged_jp2_is_named(damaged, tmp_path, damage):
    path = damaged.band_path("B03", 10)
    data = path.read_bytes()
    path.write_bytes(bytes(range(256)) * 64 if damage == "garbage" else data[: len(data) * 2 // 3])
    with pytest.raises(InputError, match="band B03") as error:
        convert(damaged, tmp_path / "never.tif", bands=("B02", "B03"))
    assert str(path.parent) not in str(error.value) and "jp2" not in str(error.value).lower()
    assert not (tmp_path / "never.tif").exists()


def test_jp2_of_the_wrong_size_is_named(damaged, tmp_path):
    path = damaged.band_path("B04", 10)
    with rasterio.open(path) as band:
        profile, data = band.profile, band.read(1, window=Window(0, 0, 30, 30))
    profile.update(driver="GTiff", width=30, height=30)
    other = tmp_path / "small.tif"
    with rasterio.open(other, "w", **profile) as small:
        small.write(data, 1)
    rasterio.shutil.copy(other, path, driver="JP2OpenJPEG", QUALITY=100, REVERSIBLE="YES")
    with pytest.raises(InputError, match="band B04: its file does not match the tile's grid"):
        convert(damaged, tmp_path / "never.tif", bands=("B04",))


@pytest.fixture(scope="module")
def real():
    return read_product(shared_path("data", "sentinel2", REAL))


@pytest.mark.shared
def test_real_l2a_at_60m_is_dn_minus_offset(real, tmp_path):
    assert real.level == "L2A" and real.offsets["B02"] == -1000 and real.quantification == 10000
    # On the 60 m grid: columns 667-716, rows 960-999 of the tile.
    aoi = AOI(540000, 5840040, 543000, 5842440, "EPSG:32629")
    bands = ("B02", "B04", "B8A", "SCL")
    result = convert(real, tmp_path / "real.tif", bands=bands, resolution=60, aoi=aoi)
    assert (result["width"], result["height"]) == (50, 40)
    assert result["transform"] == (60.0, 0.0, 540000.0, 0.0, -60.0, 5842440.0)
    window = Window(667, 960, 50, 40)
    out = read(result["path"])
    for index, band in enumerate(bands):
        with rasterio.open(real.band_path(band, 60)) as source:
            assert source.res == (60, 60)
            dn = source.read(1, window=window).astype(np.int32)
        if band == "SCL":
            assert np.array_equal(out[index], dn)
        else:
            assert np.array_equal(out[index], np.where(dn == 0, 0, np.clip(dn - 1000, 1, 65535)))
    assert out[:3].any()


@pytest.mark.shared
def test_real_l2a_lacks_10m_bands(real, tmp_path):
    with pytest.raises(InputError, match="B02 at 10 m is missing"):
        convert(real, tmp_path / "never.tif", bands=("B02",), resolution=10)


def test_output_name_is_built_from_validated_tile_and_date_only(l2a):
    assert output_name(l2a, "20") == "S2_T31TCJ_20221005_20m.tif"
    for tile in ("../x", "/tmp/x", "31TCJ/..", "３1TCJ", "31tcj"):
        assert output_name(dataclasses.replace(l2a, tile_id=tile), 10) == FALLBACK_NAME
    assert output_name(dataclasses.replace(l2a, sensing_time="2022-10-05/../x"), 10) == FALLBACK_NAME
