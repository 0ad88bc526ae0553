"""The synthetic fusion scene: files as promised, and each sensor blind to one pair of classes."""

from datetime import timedelta

import numpy as np
import pytest
import rasterio
from rasterio.features import rasterize
from scipy.ndimage import uniform_filter
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import GroupKFold, cross_val_predict

from candela.datasets import synthetic_fusion as fusion
from candela.rasters.dating import acquisition_time
from candela.rasters.grid import Grid

#: Pixels drawn for each cross-validation (all would take longer and say the same).
SAMPLE = 3000


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return fusion.write_fusion_scene(tmp_path_factory.mktemp("fusion"))


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """Three dates with cloud gaps, the radar in dB at 20 m."""
    return fusion.write_fusion_scene(tmp_path_factory.mktemp("series"), size=120, seed=3, dates=3,
                                     sar_units="dB", sar_grid="coarser", cloud=True)


@pytest.fixture(scope="module")
def pixels(scene):
    """Per pixel: class, parcel, optical bands, and the radar in dB averaged over 5 x 5 pixels."""
    with rasterio.open(scene.optical[0]) as dataset:
        optical = dataset.read().astype(float)
    with rasterio.open(scene.sar) as dataset:
        radar = np.stack([uniform_filter(10 * np.log10(band), 5, mode="nearest") for band in dataset.read()])
    with rasterio.open(scene.truth) as dataset:
        truth = dataset.read(1)
    return {"truth": truth, "parcel": _parcel_ids(scene), "optical": optical, "radar": radar,
            "fused": np.concatenate([optical, radar])}


def _parcel_ids(scene):
    grid = scene.grid
    return rasterize(zip(scene.parcels.geometry, scene.parcels["parcel"]), out_shape=(grid.height, grid.width),
                     transform=grid.transform, dtype="int32")


def _accuracy(pixels, features, classes):
    """Balanced accuracy of a random forest on ``features`` over ``classes``, cross-validated by parcel."""
    codes = [fusion.CLASSES.index(name) for name in classes]
    chosen = np.isin(pixels["truth"], codes)
    pick = np.random.default_rng(0).choice(chosen.sum(), SAMPLE, replace=False)
    x = pixels[features][:, chosen].T[pick]
    y, groups = pixels["truth"][chosen][pick], pixels["parcel"][chosen][pick]
    forest = RandomForestClassifier(40, min_samples_leaf=5, random_state=0, n_jobs=1)
    predicted = cross_val_predict(forest, x, y, groups=groups, cv=GroupKFold(5))
    return balanced_accuracy_score(y, predicted)


def _read(path):
    with rasterio.open(path) as dataset:
        return dataset.read()


def test_same_seed_same_scene_other_seed_other(tmp_path):
    first, again, other = (fusion.write_fusion_scene(tmp_path / name, size=80, seed=seed)
                           for name, seed in (("a", 5), ("b", 5), ("c", 6)))
    for path, same, different in zip(first.optical + (first.sar, first.truth), again.optical + (again.sar, again.truth),
                                     other.optical + (other.sar, other.truth)):
        assert np.array_equal(_read(path), _read(same), equal_nan=True)
        assert not np.array_equal(_read(path), _read(different), equal_nan=True)
    assert first.parcels.geom_equals(again.parcels).all()
    assert first.parcels.drop(columns="geometry").equals(again.parcels.drop(columns="geometry"))


def test_optical_image(scene, pixels):
    assert len(scene.optical) == 1 and scene.optical_times == (fusion.START,)
    with rasterio.open(scene.optical[0]) as dataset:
        assert dataset.descriptions == fusion.OPTICAL_BANDS
        assert dataset.dtypes == ("uint16",) * 6 and dataset.nodata == 0
        assert Grid.of(dataset).same_as(scene.grid) and dataset.crs.to_epsg() == 32633 and dataset.res == (10, 10)
        assert acquisition_time(dataset) == fusion.START
    optical, truth = pixels["optical"], pixels["truth"]
    assert optical.min() > 0  # no cloud asked for
    meadow = np.median(optical[:, truth == fusion.CLASSES.index("meadow")], axis=1)
    assert 300 < meadow[2] < 600 and 2800 < meadow[3] < 3800  # B04, B08 of green vegetation
    soil = np.median(optical[:, truth == fusion.CLASSES.index("smooth_soil")], axis=1)
    assert 1300 < soil[2] < 1800 and 1800 < soil[3] < 2300


def test_radar_image(scene, pixels, tmp_path):
    with rasterio.open(scene.sar) as dataset:
        assert dataset.descriptions == fusion.SAR_BANDS
        assert dataset.dtypes == ("float32", "float32") and np.isnan(dataset.nodata)
        assert Grid.of(dataset).same_as(scene.grid)
        assert dataset.tags()["UNITS"] == "linear" == scene.sar_units
        assert acquisition_time(dataset) == scene.sar_time == fusion.START + fusion.SAR_DELAY
        linear = dataset.read()
    assert 0 < linear.min() and linear.max() < 3
    vv, vh = (np.median(10 * np.log10(band[pixels["truth"] == fusion.CLASSES.index("smooth_soil")]))
              for band in linear)
    # The median of 4.4-look speckle lies about 0.7 dB under its mean.
    assert -16.5 < vv < -15 and -24.5 < vh < -23
    # Single pixels are noisy (gamma speckle, 4.4 looks: about 2.2 dB); 5 x 5 means much less.
    soils = pixels["truth"] == fusion.CLASSES.index("ploughed_soil")
    assert np.std(10 * np.log10(linear[0][soils])) > 2 > 1.2 > np.std(pixels["radar"][0][soils])
    decibels = fusion.write_fusion_scene(tmp_path, sar_units="dB")
    with rasterio.open(decibels.sar) as dataset:
        assert dataset.tags()["UNITS"] == "dB"
        assert np.allclose(dataset.read(), 10 * np.log10(linear), atol=1e-4)


def test_series_with_clouds_and_coarser_radar(series):
    assert series.optical_times == tuple(fusion.START + i * timedelta(days=10) for i in range(3))
    greenness = []
    for path, when in zip(series.optical, series.optical_times):
        with rasterio.open(path) as dataset:
            assert acquisition_time(dataset) == when and dataset.descriptions == fusion.OPTICAL_BANDS
            image = dataset.read().astype(float)
        gap = (image == 0).all(axis=0)
        assert np.array_equal(gap, (image == 0).any(axis=0))  # masked in every band at once
        assert 0.02 < gap.mean() < 0.04  # one square of a sixth of the side
        ndvi = (image[3] - image[2]) / (image[3] + image[2] + 1e-9)
        truth = _read(series.truth)[0]
        greenness.append([np.median(ndvi[~gap & (truth == code)]) for code in range(4)])
    meadow, dry, smooth, ploughed = np.array(greenness).T
    assert (meadow > 0.68).all() and (dry < 0.37).all() and (smooth < 0.2).all()
    assert meadow[1] > meadow[0] + 0.03 and dry[2] < dry[0] - 0.03  # the season goes on
    assert np.allclose(smooth, ploughed, atol=0.03)  # one distribution, up to the few parcels drawn
    with rasterio.open(series.sar) as dataset:
        assert dataset.res == (20, 20) and (dataset.width, dataset.height) == (60, 60)
        assert dataset.bounds == series.grid.bounds and dataset.tags()["UNITS"] == "dB"
        vv, vh = dataset.read()
    assert -45 < vh.min() and vv.max() < 5 and -20 < np.median(vh) < np.median(vv) < -9


def test_parcels_rasterise_to_the_truth(scene, pixels):
    parcels = scene.parcels
    assert list(parcels.columns) == ["parcel", "class", "geometry"] and parcels.crs == scene.grid.crs
    assert parcels["parcel"].is_unique and parcels.is_valid.all()
    assert set(parcels["class"]) == set(fusion.CLASSES) == set(scene.classes)
    codes = {name: code for code, name in enumerate(scene.classes)}
    grid = scene.grid
    truth = rasterize(zip(parcels.geometry, parcels["class"].map(codes)), out_shape=(grid.height, grid.width),
                      transform=grid.transform, fill=255, dtype="uint8")
    assert np.array_equal(truth, pixels["truth"])
    across = np.sqrt(parcels.area) / fusion.PIXEL
    assert 12 < across.median() < 25 and across.min() > 5
    with rasterio.open(scene.truth) as dataset:
        assert dataset.dtypes == ("uint8",) and dataset.tags()["CLASSES"] == ",".join(scene.classes)


def test_optical_bands_cannot_tell_the_soils_apart_radar_can(pixels):
    assert _accuracy(pixels, "optical", fusion.OPTICALLY_CONFUSED) < 0.65
    assert _accuracy(pixels, "radar", fusion.OPTICALLY_CONFUSED) > 0.85


def test_radar_cannot_tell_the_grasses_apart_optical_bands_can(pixels):
    assert _accuracy(pixels, "radar", fusion.RADAR_CONFUSED) < 0.65
    assert _accuracy(pixels, "optical", fusion.RADAR_CONFUSED) > 0.85


def test_fusion_tells_all_four_apart(pixels):
    fused = _accuracy(pixels, "fused", fusion.CLASSES)
    assert fused > 0.9
    assert max(_accuracy(pixels, "optical", fusion.CLASSES), _accuracy(pixels, "radar", fusion.CLASSES)) < 0.8


def test_sample_points(scene, pixels):
    points = fusion.sample_points(scene, 7, seed=2)
    assert list(points["class"]) == [name for name in scene.classes for _ in range(7)]
    assert points.crs == scene.grid.crs
    rows, cols = rasterio.transform.rowcol(scene.grid.transform, points.geometry.x, points.geometry.y)
    assert [scene.classes[code] for code in pixels["truth"][rows, cols]] == list(points["class"])
    assert list(pixels["parcel"][rows, cols]) == list(points["parcel"])
    assert fusion.sample_points(scene, 7, seed=2).geom_equals(points).all()
    assert not fusion.sample_points(scene, 7, seed=3).geom_equals(points).all()
    with pytest.raises(ValueError, match="fewer than"):
        fusion.sample_points(scene, 10**6)


@pytest.mark.parametrize("arguments", [dict(size=30), dict(size=101), dict(dates=0), dict(sar_units="dBm"),
                                       dict(sar_grid="finer")])
def test_bad_arguments(tmp_path, arguments):
    with pytest.raises(ValueError):
        fusion.write_fusion_scene(tmp_path, **arguments)
