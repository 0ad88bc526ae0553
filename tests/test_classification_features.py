"""FusionClassify's features, checked by hand on real values (BigEarthNet patches in ../shared)
and on small generated rasters (masks, edges, time series, units)."""

from contextlib import ExitStack

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window

from candela.classification.features import FeatureStack
from candela.classification.inputs import open_optical, open_sar, place_on_grid, settle_units
from candela.datasets import bigearthnet
from candela.datasets.synthetic_fusion import write_fusion_scene
from candela.errors import InputError

from helpers.paths import shared_path
from helpers.rasters import write_optical, write_sar

#: Pixels (row, col) checked by hand: interior ones, and an edge and a corner.
PIXELS = ((37, 64), (64, 37), (60, 60), (0, 50), (119, 119))


@pytest.fixture(scope="module")
def patch(tmp_path_factory):
    """One real patch: its source folders and the stacks the service takes."""
    found = bigearthnet.patches(shared_path("data", "bigearthnet"))[0]
    optical, sar = bigearthnet.write_patch(found.s2_folder, found.s1_folder, tmp_path_factory.mktemp("patch"))
    return found, optical, sar


def features_of(optical, sar, window=Window(0, 0, 120, 120), units="auto"):
    with ExitStack() as stack:
        images = [open_optical(p.name, p, stack, 10**9) for p in optical]
        images += [open_sar(p.name, p, stack, 10**9) for p in sar]
        grid = place_on_grid(images, stack)
        for image in images:
            if image.sensor == "sar":
                settle_units(image, grid, units)
        features = FeatureStack([i for i in images if i.sensor == "optical"], [i for i in images if i.sensor == "sar"])
        X, valid = features.read(window)
        shape = (int(window.height), int(window.width))
        return {name: X[:, i].reshape(shape) for i, name in enumerate(features.names)}, valid.reshape(shape), images


def source(folder, band):
    with rasterio.open(folder / f"{folder.name}_{band}.tif") as dataset:
        return dataset.read(1).astype("float64")


def band_at(folder, band, row, col):
    values = source(folder, band)
    factor = 120 // values.shape[0]  # 20 m bands: nearest neighbour onto the 10 m grid
    return values[row // factor, col // factor] / 10000


@pytest.mark.shared
def test_indices_on_real_pixels_equal_their_formulas(patch):
    found, optical, sar = patch
    features, valid, _ = features_of([optical], [sar])
    assert valid.all()
    for row, col in PIXELS:
        b03, b04, b08, b11, b12 = (band_at(found.s2_folder, b, row, col) for b in ("B03", "B04", "B08", "B11", "B12"))
        assert features["B04"][row, col] == pytest.approx(b04, rel=1e-6)
        assert features["B11"][row, col] == pytest.approx(b11, rel=1e-6)
        assert features["NDVI"][row, col] == pytest.approx((b08 - b04) / (b08 + b04), abs=1e-5)
        assert features["NDWI"][row, col] == pytest.approx((b03 - b08) / (b03 + b08), abs=1e-5)
        assert features["NDMI"][row, col] == pytest.approx((b08 - b11) / (b08 + b11), abs=1e-5)
        assert features["NBR"][row, col] == pytest.approx((b08 - b12) / (b08 + b12), abs=1e-5)


def _s1_band(found, band):
    path = next(found.s1_folder.glob(f"*_{band}.tif"))
    with rasterio.open(path) as dataset:
        return dataset.read(1).astype("float64")


@pytest.mark.shared
def test_sar_features_on_real_pixels_equal_their_formulas(patch):
    found, optical, sar = patch
    features, _, images = features_of([optical], [sar])
    assert images[1].units == "dB"  # from the UNITS tag the stack carries
    vv_db, vh_db = _s1_band(found, "VV"), _s1_band(found, "VH")
    vv, vh = 10 ** (vv_db / 10), 10 ** (vh_db / 10)
    for row, col in PIXELS:
        assert features["VV_dB"][row, col] == pytest.approx(vv_db[row, col], abs=1e-3)
        assert features["VV_VH_dB"][row, col] == pytest.approx(vv_db[row, col] - vh_db[row, col], abs=1e-3)
        rows, cols = slice(max(row - 2, 0), row + 3), slice(max(col - 2, 0), col + 3)  # the valid 5 x 5 part
        for band, linear in (("VV", vv), ("VH", vh)):
            box = linear[rows, cols]
            assert features[f"{band}_mean_dB"][row, col] == pytest.approx(10 * np.log10(box.mean()), abs=1e-3)
            assert features[f"{band}_var"][row, col] == pytest.approx(box.var() / box.mean() ** 2, rel=1e-3)
        assert features["VV_VH_mean_dB"][row, col] == pytest.approx(
            10 * np.log10(vv[rows, cols].mean() / vh[rows, cols].mean()), abs=1e-3)


@pytest.mark.shared
def test_ndvi_texture_is_the_local_standard_deviation(patch):
    found, optical, sar = patch
    features, _, _ = features_of([optical], [])
    b04, b08 = source(found.s2_folder, "B04"), source(found.s2_folder, "B08")
    ndvi = (b08 - b04) / (b08 + b04)
    for row, col in PIXELS:
        box = ndvi[max(row - 2, 0):row + 3, max(col - 2, 0):col + 3]
        assert features["NDVI_std"][row, col] == pytest.approx(box.std(), abs=1e-4)


def test_a_window_gives_the_same_features_as_the_whole_image(tmp_path):
    """Halos: a window inside the image sees the neighbours outside it."""
    scene = write_fusion_scene(tmp_path, size=60, seed=1)
    whole, _, _ = features_of(list(scene.optical), [scene.sar], Window(0, 0, 60, 60))
    part, _, _ = features_of(list(scene.optical), [scene.sar], Window(17, 23, 20, 15))
    for name in whole:
        np.testing.assert_allclose(part[name], whole[name][23:38, 17:37], rtol=1e-5, atol=1e-6, err_msg=name)


def test_clouds_and_no_data_are_invalid(tmp_path):
    grid_values = np.full((3, 8, 8), 1000, dtype="uint16")
    grid_values[0, 1, 1] = 0  # no data in B04
    scl = np.full((8, 8), 4, dtype="uint16")
    scl[5, 6] = 9  # cloud, high probability
    path = write_optical(tmp_path / "s2.tif", np.concatenate([grid_values, scl[None]]).astype("float32"),
                         descriptions=("B04", "B08", "B11", "SCL"), nodata=0)
    features, valid, _ = features_of([path], [], Window(0, 0, 8, 8))
    assert not valid[1, 1] and not valid[5, 6]
    assert valid.sum() == 62
    assert "SCL" not in features and {"B04", "B08", "B11", "NDVI", "NDMI", "NDVI_std"} == set(features)


def test_a_time_series_prefixes_features_by_rank_in_time(tmp_path):
    scene = write_fusion_scene(tmp_path, size=40, seed=2, dates=2)
    features, _, _ = features_of(list(reversed(scene.optical)), [scene.sar], Window(0, 0, 40, 40))
    assert "t1_NDVI" in features and "t2_NDVI" in features and "VV_dB" in features
    with rasterio.open(scene.optical[0]) as first:  # the earlier date is t1, whatever the order given
        b04, b08 = first.read(3).astype("float64") / 1e4, first.read(4).astype("float64") / 1e4
    np.testing.assert_allclose(features["t1_NDVI"], np.where(b04 + b08 > 0, (b08 - b04) / (b08 + b04), 0), atol=1e-5)


@pytest.mark.parametrize("units", ["linear", "dB"])
def test_sar_units_are_told_from_the_values_without_a_tag(tmp_path, units):
    scene = write_fusion_scene(tmp_path, size=40, seed=3, sar_units=units)
    with rasterio.open(scene.sar, "r+") as dataset:
        dataset.update_tags(UNITS="")
    _, _, images = features_of(list(scene.optical), [scene.sar], Window(0, 0, 40, 40))
    assert images[1].units == units


def test_the_sar_grid_is_resampled_onto_the_optical_one(tmp_path):
    scene = write_fusion_scene(tmp_path, size=40, seed=4, sar_grid="coarser")
    features, valid, _ = features_of(list(scene.optical), [scene.sar], Window(0, 0, 40, 40))
    assert valid.all()
    with rasterio.open(scene.sar) as sar:
        coarse = sar.read(1)
    expected = coarse if scene.sar_units == "dB" else 10 * np.log10(coarse)
    np.testing.assert_allclose(features["VV_dB"][::2, ::2], expected, atol=1e-3)  # nearest: each 20 m pixel 2 x 2
    np.testing.assert_allclose(features["VV_dB"][1::2, 1::2], expected, atol=1e-3)


def test_images_that_do_not_overlap_are_refused(tmp_path):
    scene = write_fusion_scene(tmp_path, size=40, seed=5)
    far = write_sar(tmp_path / "far.tif", np.ones((2, 10, 10), dtype="float32"),
                    transform=Affine(10, 0, 900000, 0, -10, 5000000), crs="EPSG:32633")
    with pytest.raises(InputError, match="does not overlap") as error:
        features_of(list(scene.optical), [far], Window(0, 0, 10, 10))
    assert error.value.input == "sar"
