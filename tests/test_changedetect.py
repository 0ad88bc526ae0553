"""ChangeDetect core: distance and mapping, tiling, grids, bands, nodata, models, training.

TensorFlow runs only in forked children (tests/helpers/isolated.py explains why).
"""

import json

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin

from candela.change import changedetect
from candela.change.mapping import ProbabilityMapping
from candela.errors import InputError
from candela.learning import models
from helpers.isolated import run_isolated
from helpers.rasters import BANDS, UTM, landscape, paste, second_date, write_optical

def detect_arrays(*args, **kwargs):
    return run_isolated(changedetect.detect_arrays, *args, **kwargs)


def detect(*args, **kwargs):
    return run_isolated(changedetect.detect, *args, **kwargs)


# Distance and mapping


@pytest.mark.parametrize("method", changedetect.METHODS)
def test_identical_images_give_near_zero_everywhere(method):
    image = landscape()
    probability = detect_arrays(image, image.copy(), method)
    assert probability.dtype == np.float32 and probability.shape == image.shape[1:]
    assert np.nanmax(probability) < 0.01


@pytest.mark.parametrize("method", changedetect.METHODS)
def test_a_pasted_patch_is_high_inside_and_low_outside(method):
    before = landscape()
    rows, cols = slice(64, 88), slice(90, 118)  # 2 % of the image, like a real urban change
    after = paste(second_date(before), rows, cols)
    probability = detect_arrays(before, after, method)
    inside = probability[rows, cols][4:-4, 4:-4]
    outside = np.ones(probability.shape, dtype=bool)
    outside[54:98, 80:128] = False  # leave a ring for the encoder's receptive field
    assert inside.mean() > 0.8
    assert np.mean(probability[outside]) < 0.1
    assert np.mean(probability[outside] > 0.5) < 0.02


def test_a_brightness_change_alone_is_not_change():
    before = landscape()
    after = second_date(before, gain=1.6, offset=400.0)
    probability = detect_arrays(before, after, "autoencoder")
    assert np.mean(probability > 0.5) < 0.02


def test_the_mapping_is_monotone_and_in_range():
    rng = np.random.default_rng(3)
    distances = np.concatenate([rng.chisquare(4, 50000) ** 0.5, rng.uniform(6, 12, 1000)])
    mapping = ProbabilityMapping.fit(distances)
    grid = np.linspace(0, 15, 2000)
    values = mapping(grid)
    assert np.all(np.diff(values) >= 0) and values.min() >= 0 and values.max() <= 1
    assert mapping(np.median(distances)) < 0.05
    assert mapping(10.0) > 0.95


def test_the_mapping_of_a_pair_without_spread_is_zero():
    mapping = ProbabilityMapping.fit(np.zeros(1000))
    assert mapping(np.zeros(3)).max() < 1e-3


# Tiling


@pytest.mark.parametrize("method", changedetect.METHODS)
def test_tiled_result_equals_whole_image_result(method):
    before = landscape((150, 170))
    after = paste(second_date(before), slice(40, 70), slice(50, 90))
    after[:, :12, :20] = np.nan  # nodata at an edge and across window borders
    whole, tiled, odd = run_isolated(_tiled_and_whole, before, after, method)
    np.testing.assert_allclose(tiled, whole, atol=1e-5, equal_nan=True)
    np.testing.assert_allclose(odd, whole, atol=1e-5, equal_nan=True)
    assert np.isnan(whole[:12, :20]).all() and np.isfinite(whole[12:, 20:]).all()


def _tiled_and_whole(before, after, method):
    model = models.load_model()
    return (changedetect.detect_arrays(before, after, method, model),
            changedetect.detect_arrays(before, after, method, model, window=32),
            changedetect.detect_arrays(before, after, method, model, window=11))


def test_tiled_file_result_equals_whole_image_result(tmp_path):
    before = landscape((130, 150))
    after = paste(second_date(before), slice(30, 60), slice(40, 80))
    write_optical(tmp_path / "before.tif", before)
    write_optical(tmp_path / "after.tif", after)
    detect(tmp_path / "before.tif", tmp_path / "after.tif", tmp_path / "small.tif", window=48)
    detect(tmp_path / "before.tif", tmp_path / "after.tif", tmp_path / "whole.tif", window=1024)
    whole = detect_arrays(before, after, "autoencoder")
    with rasterio.open(tmp_path / "small.tif") as small, rasterio.open(tmp_path / "whole.tif") as big:
        np.testing.assert_allclose(small.read(1), big.read(1), atol=1e-5)
        np.testing.assert_allclose(big.read(1), whole, atol=1e-5)


# Files: output grid, range, nodata; grids; bands


def test_output_raster_matches_the_before_grid(tmp_path):
    before = landscape()
    before[:, -10:, :] = 0  # nodata stripe in 'before'
    after = paste(second_date(before), slice(60, 100), slice(80, 124))
    transform = from_origin(600000, 5100000, 10, 10)
    write_optical(tmp_path / "before.tif", before, transform=transform, nodata=0)
    write_optical(tmp_path / "after.tif", after, transform=transform)
    summary = detect(tmp_path / "before.tif", tmp_path / "after.tif", tmp_path / "change.tif")
    with rasterio.open(tmp_path / "change.tif") as out, rasterio.open(tmp_path / "before.tif") as ref:
        assert (out.width, out.height, out.crs, out.transform) == (ref.width, ref.height, ref.crs, ref.transform)
        assert out.dtypes == ("float32",) and np.isnan(out.nodata)
        values = out.read(1)
    assert np.isnan(values[-10:]).all()
    finite = values[:-10]
    assert np.isfinite(finite).all() and finite.min() >= 0 and finite.max() <= 1
    assert summary["valid_pixels"] == finite.size
    assert summary["changed_fraction"] == pytest.approx(np.mean(finite > 0.5), abs=1e-6)
    assert summary["model"] == models.DEFAULT_MODEL
    assert set(summary["timings_s"]) >= {"reading", "encoding", "writing", "total"}


def test_after_on_another_grid_is_resampled_onto_the_before_grid(tmp_path):
    before = landscape((160, 192))
    after = paste(second_date(before), slice(60, 100), slice(80, 124))
    write_optical(tmp_path / "before.tif", before)
    write_optical(tmp_path / "after.tif", after)
    # The same 'after' as a larger raster in another CRS, reprojected by GDAL.
    from rasterio.warp import calculate_default_transform, reproject, Resampling

    wgs84 = CRS.from_epsg(4326)
    with rasterio.open(tmp_path / "after.tif") as source:
        transform, width, height = calculate_default_transform(source.crs, wgs84, source.width, source.height,
                                                               *source.bounds)
        data = np.zeros((4, height, width), dtype=np.float32)
        reproject(after, data, src_transform=source.transform, src_crs=source.crs, dst_transform=transform,
                  dst_crs=wgs84, resampling=Resampling.bilinear, dst_nodata=np.nan)
    write_optical(tmp_path / "after_4326.tif", data, transform=transform, crs=wgs84, nodata=np.nan)
    detect(tmp_path / "before.tif", tmp_path / "after_4326.tif", tmp_path / "change.tif")
    with rasterio.open(tmp_path / "change.tif") as out:
        assert (out.width, out.height, out.crs) == (192, 160, UTM)
        values = out.read(1)
    assert np.nanmean(values[68:92, 88:116]) > 0.8
    assert np.nanmean(values[:40]) < 0.2


def test_rasters_that_do_not_overlap_are_refused(tmp_path):
    image = landscape((64, 64))
    write_optical(tmp_path / "before.tif", image)
    write_optical(tmp_path / "after.tif", image, transform=from_origin(700000, 5000000, 10, 10))
    with pytest.raises(InputError, match="does not overlap") as caught:
        detect(tmp_path / "before.tif", tmp_path / "after.tif", tmp_path / "change.tif")
    assert caught.value.input == "after"


def test_bands_are_matched_by_description_in_any_order(tmp_path):
    before = landscape()
    after = paste(second_date(before), slice(60, 100), slice(80, 124))
    order = [3, 1, 0, 2]
    write_optical(tmp_path / "before.tif", before)
    write_optical(tmp_path / "after.tif", after)
    write_optical(tmp_path / "after_shuffled.tif", after[order], descriptions=[BANDS[i] for i in order])
    write_optical(tmp_path / "before_unnamed.tif", before, descriptions=None)
    detect(tmp_path / "before.tif", tmp_path / "after.tif", tmp_path / "a.tif")
    detect(tmp_path / "before_unnamed.tif", tmp_path / "after_shuffled.tif", tmp_path / "b.tif")
    with rasterio.open(tmp_path / "a.tif") as a, rasterio.open(tmp_path / "b.tif") as b:
        np.testing.assert_allclose(a.read(1), b.read(1), atol=1e-6)


def test_a_missing_band_is_named(tmp_path):
    image = landscape((64, 64))
    write_optical(tmp_path / "before.tif", image)
    write_optical(tmp_path / "after.tif", image, descriptions=("B02", "B03", "B04", "B05"))
    with pytest.raises(InputError, match="B02, B03, B04, B08 expected.*missing B08") as caught:
        detect(tmp_path / "before.tif", tmp_path / "after.tif", tmp_path / "change.tif")
    assert caught.value.input == "after"


def test_unnamed_bands_of_the_wrong_count_are_refused(tmp_path):
    image = landscape((64, 64))
    write_optical(tmp_path / "before.tif", image[:3], descriptions=None)
    write_optical(tmp_path / "after.tif", image)
    with pytest.raises(InputError, match="4 bands expected") as caught:
        detect(tmp_path / "before.tif", tmp_path / "after.tif", tmp_path / "change.tif")
    assert caught.value.input == "before"


def test_a_raster_without_georeference_is_refused(tmp_path):
    image = landscape((64, 64))
    write_optical(tmp_path / "before.tif", image, transform=from_origin(0, 0, 1, -1), crs=None)
    write_optical(tmp_path / "after.tif", image)
    with pytest.raises(InputError, match="no georeference"):
        detect(tmp_path / "before.tif", tmp_path / "after.tif", tmp_path / "change.tif")


# Models


def test_unknown_and_malformed_model_ids_are_refused(tmp_path):
    with pytest.raises(InputError, match=f"unknown model 'nope'; shipped models: .*{models.DEFAULT_MODEL}"):
        models.load_model("nope")
    (tmp_path / "secret").mkdir()
    for name in ("metadata.json", "encoder.weights.h5"):
        (tmp_path / "secret" / name).write_text("{}")
    with pytest.raises(InputError, match="unknown model"):
        models.load_model("../secret", [models.models_dir() / "x"])


def test_the_shipped_model_has_its_metadata():
    model = models.load_model()
    metadata = model.metadata
    assert tuple(metadata["bands"]) == BANDS
    for key in ("normalisation", "architecture", "training", "evaluation"):
        assert metadata[key], key
    assert metadata["training"]["data"]["dataset"].startswith("Onera Satellite Change Detection")
    assert model.weights.stat().st_size < 5 * 2**20


def test_training_writes_a_loadable_model_and_is_reproducible(tmp_path):
    before = landscape((128, 128))
    write_optical(tmp_path / "b.tif", before)
    write_optical(tmp_path / "a.tif", second_date(before))
    pairs = [(tmp_path / "b.tif", tmp_path / "a.tif")]
    first = run_isolated(_train, pairs, tmp_path / "models" / "one")
    second = run_isolated(_train, pairs, tmp_path / "models" / "two")
    assert first["id"] == "one" and first["bands"] == list(BANDS)
    assert first["training"]["history"] == second["training"]["history"]
    assert len(first["training"]["history"]) == 2
    assert models.available_models(tmp_path / "models") == ["one", "two"]
    saved = json.loads((tmp_path / "models" / "one" / "metadata.json").read_text())
    assert saved["training"]["config"]["seed"] == 7
    probability = detect_arrays(before, paste(second_date(before), slice(40, 80), slice(40, 80)),
                                "autoencoder", models.load_model("one", tmp_path / "models"))
    assert probability.shape == (128, 128) and np.isfinite(probability).all()


def _train(pairs, folder):
    from candela.learning import training
    from candela.learning.autoencoder import TrainingConfig

    config = TrainingConfig(epochs=2, steps_per_epoch=3, batch_size=4, patch=32, patches_per_image=8, seed=7)
    return training.train_model(pairs, folder, config, folder.name, BANDS, {"description": "test"})


def test_level_1c_and_level_2a_jpeg2tiff_outputs_compare(tmp_path):
    """A Level-1C product (baseline 03.01, no offset) against a Level-2A one (04.00, offset
    -1000) of the same scene, both through Jpeg2Tiff: nothing changed, and nothing is found."""
    from candela.conversion import jpeg2tiff
    from candela.safe.sentinel2 import read_product
    from candela.datasets.synthetic_s2 import write_product

    paths = []
    for level, baseline in (("L1C", "03.01"), ("L2A", "04.00")):
        folder = tmp_path / level
        folder.mkdir()
        product = read_product(write_product(folder, level=level, baseline=baseline, size_10m=180, seed=4,
                                             texture=0.01, resolutions=(10,), bands=BANDS))
        paths.append(jpeg2tiff.convert(product, tmp_path / f"{level}.tif", bands=BANDS)["path"])
    summary = detect(paths[0], paths[1], tmp_path / "change.tif")
    valid = None
    for path in paths:
        with rasterio.open(path) as image:
            ok = image.read_masks().all(axis=0)
        valid = ok if valid is None else valid & ok
    assert summary["valid_pixels"] == valid.sum() > 0.9 * valid.size
    assert summary["changed_fraction"] < 0.01
