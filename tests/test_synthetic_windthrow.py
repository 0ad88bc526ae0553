"""The windthrow scene: files as promised, damage painted exactly as the truth says, the cloud
on one parcel, radar speckle and change where they should be, and the real base used."""

import json
from datetime import timedelta

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from scipy import ndimage
from shapely import affinity

from candela.change.omnibus import mean_ratio_test
from candela.datasets import synthetic_windthrow as windthrow
from candela.datasets import windthrow_layout as layout
from candela.datasets.oscd import read_stack, save_stack
from candela.rasters.dating import acquisition_time
from candela.rasters.grid import Grid

from helpers.paths import shared_path

#: Where the optical image lies on the radar grid.
ROWS = slice(layout.MARGIN[0], layout.MARGIN[0] + layout.SIZE)
COLS = slice(layout.MARGIN[1], layout.MARGIN[1] + layout.SIZE)


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return windthrow.write_windthrow_scene(tmp_path_factory.mktemp("windthrow"))


def _read(path):
    with rasterio.open(path) as dataset:
        return dataset.read()


def _ndvi(image):
    red, nir = image[2].astype(float), image[3].astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (nir - red) / (nir + red)


def _share(shape, grid):
    """Share of each pixel of ``grid`` inside ``shape`` (map coordinates)."""
    t = ~grid.transform
    share = layout.coverage(affinity.affine_transform(shape, (t.a, t.b, t.d, t.e, t.c, t.f)), (grid.height, grid.width))
    # Coordinates in degrees to 12 decimals move edges by up to 0.1 micrometre: no real sliver.
    return np.where(share < 1e-6, 0, np.where(share > 1 - 1e-6, 1, share))


def _shares(scene):
    """{parcel_id: share of each optical pixel inside it}, from parcels.geojson."""
    parcels = gpd.read_file(scene.parcels).to_crs(scene.grid.crs)
    return {pid: _share(shape, scene.grid) for pid, shape in zip(parcels["parcel_id"], parcels.geometry)}


def _sar_stack(scene):
    """Linear sigma nought (dates, 2, rows, cols)."""
    return np.stack([_read(path) for path in scene.sar]).astype(float)


def test_optical_files(scene):
    for path, when in ((scene.before, windthrow.BEFORE), (scene.after, windthrow.AFTER)):
        with rasterio.open(path) as dataset:
            assert dataset.descriptions == windthrow.BANDS
            assert dataset.dtypes == ("uint16",) * 6 and dataset.nodata == 0
            assert dataset.crs.to_epsg() == 32634 and dataset.res == (10, 10)
            assert (dataset.width, dataset.height) == (256, 256)
            assert Grid.of(dataset) == scene.grid
            assert acquisition_time(dataset) == when
            assert dataset.tags()["ACQUISITION_DATE"] == when.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert windthrow.BEFORE.date().isoformat() == "2017-07-30"
    assert windthrow.AFTER.date().isoformat() == "2017-09-29"
    # East of Toruń (18.6 E, 53.0 N).
    corner = gpd.GeoSeries(gpd.points_from_xy([scene.grid.transform.c], [scene.grid.transform.f]),
                           crs=scene.grid.crs).to_crs(4326)[0]
    assert 18.5 < corner.x < 18.7 and 52.95 < corner.y < 53.1
    assert (_read(scene.before) > 0).all()


def test_sar_files(scene):
    assert len(scene.sar) == 17
    assert [t > scene.event for t in scene.sar_times] == [False] * 7 + [True] * 10
    assert np.diff(scene.sar_times).tolist() == [timedelta(days=6)] * 16
    assert min(scene.sar_times) < windthrow.BEFORE < scene.event < windthrow.AFTER < max(scene.sar_times)
    for path, when in zip(scene.sar, scene.sar_times):
        with rasterio.open(path) as dataset:
            assert dataset.descriptions == ("VV", "VH") and dataset.dtypes == ("float32", "float32")
            assert dataset.tags()["UNITS"] == "linear" and acquisition_time(dataset) == when
            assert Grid.of(dataset) == scene.sar_grid
            assert (dataset.read() > 0).all()
    # Another grid, same pixels, covering the optical image.
    assert scene.sar_grid != scene.grid
    left, bottom, right, top = scene.grid.bounds
    s_left, s_bottom, s_right, s_top = scene.sar_grid.bounds
    assert s_left < left and s_bottom < bottom and s_right > right and s_top > top


def test_parcels_and_training_files(scene):
    parcels = gpd.read_file(scene.parcels)
    assert parcels.crs.to_epsg() == 4326
    # The forester's attributes only: land cover and damage are in truth.json.
    assert list(parcels.columns) == ["parcel_id", "forest", "geometry"]
    assert set(parcels["forest"]) == {"Nadleśnictwo Toruń"}
    document = json.loads(scene.truth_file.read_text(encoding="utf-8"))
    assert [p["parcel_id"] for p in document["parcels"]] == list(parcels["parcel_id"]) == list(scene.truth)
    assert {p["landcover"] for p in document["parcels"]} == {"forest", "meadow", "field"}
    assert document["event"] == "2017-08-12T00:00:00Z" and document["base"] is None
    shares = _shares(scene)
    assert sum(((s > 0) & (s < 1)).any() for s in shares.values()) == 1, "one parcel has partly covered pixels"
    assert max(sum(shares.values()).ravel()) == 1.0, "parcels do not overlap"

    training = gpd.read_file(scene.training).to_crs(scene.grid.crs)
    assert set(training["class"]) == {"forest", "meadow", "field", "water"}
    landcover, change, _ = _read(scene.truth_raster)
    classes = windthrow.CLASSES
    for name, shape in zip(training["class"], training.geometry):
        inside = _share(shape, scene.grid) > 0
        assert inside.sum() >= 100
        assert (landcover[inside] == classes.index(name)).all(), name
        assert (change[inside] == 0).all() or name == "field", name


def test_damage_painted_exactly(scene):
    """Blown-down pixels (the only forest pixels whose NDVI falls) add up to the truth."""
    after_ndvi = _ndvi(_read(scene.after))
    change = _read(scene.truth_raster)[1]
    windthrown = change == windthrow.CHANGES.index("windthrow")
    shares = _shares(scene)
    fractions = set()
    for pid, truth in scene.truth.items():
        share = shares[pid]
        assert truth.area_ha == pytest.approx(share.sum() / 100, abs=1e-6)
        assert share[windthrown].sum() / 100 == pytest.approx(truth.damaged_ha, abs=1e-6)
        if truth.landcover != "forest":
            assert truth.damaged_ha == 0
            continue
        if not truth.clouded:
            seen = (after_ndvi < 0.6) & (share > 0)
            assert (seen == (windthrown & (share > 0))).all(), pid
        if ((share > 0) & (share < 1)).any():
            # Partly covered pixels: the fraction is reached to within one pixel.
            assert abs(truth.damaged_ha - 0.1 * truth.area_ha) <= 0.01, pid
        else:
            fractions.add(truth.damaged_fraction)
            assert truth.damaged_fraction * share.sum() == (windthrown & (share > 0)).sum()
        if 0 < truth.damaged_fraction <= 0.25:
            # Patches of a few pixels, not one block.
            patches, count = ndimage.label(windthrown & (share > 0))
            assert count >= 8 and np.median(np.bincount(patches.ravel())[1:]) <= 30, pid
    assert fractions == {0.0, 0.1, 0.25, 0.5, 1.0}
    damaged = sorted(t.damaged_ha for t in scene.truth.values() if t.damaged_ha)
    assert min(b / a for a, b in zip(damaged, damaged[1:])) > 1.5, "ranks survive a 20 % error"


def test_cloud_hides_one_damaged_forest_parcel(scene):
    after = _read(scene.after)
    _, _, cloud = _read(scene.truth_raster)
    masked = (after == 0).all(axis=0)
    assert (masked == (cloud == 1)).all() and ((after == 0).any(axis=0) == masked).all()
    clouded = [t for t in scene.truth.values() if t.clouded]
    assert len(clouded) == 1
    truth = clouded[0]
    assert truth.landcover == "forest" and truth.damaged_fraction == 0.5
    shares = _shares(scene)
    assert masked[shares[truth.parcel_id] > 0].all()
    for pid, share in shares.items():
        if pid != truth.parcel_id:
            assert not masked[share > 0].any(), pid


def test_reflectance(scene):
    before, after = _read(scene.before).astype(float), _read(scene.after).astype(float)
    landcover, change, cloud = _read(scene.truth_raster)
    forest = landcover == windthrow.CLASSES.index("forest")
    assert _ndvi(before)[forest].min() > 0.75
    assert 0.82 < np.median(_ndvi(before)[forest]) < 0.88
    windthrown = (change == 1) & (cloud == 0)
    assert _ndvi(after)[windthrown].max() < 0.45
    with np.errstate(invalid="ignore"):
        nbr = (after[3] - after[5]) / (after[3] + after[5])
    assert np.median(nbr[windthrown]) < 0.1 < 0.6 < np.median(nbr[forest & (change == 0) & (cloud == 0)])
    harvested = change == 2
    assert (_ndvi(before) - _ndvi(after))[harvested].mean() > 0.5
    # Elsewhere only drift (at most 3 % per band) and noise.
    unchanged = (change == 0) & (cloud == 0)
    ratios = after[:, unchanged] / before[:, unchanged]
    assert (np.abs(np.median(ratios, axis=1) - 1) < 0.031).all()
    assert (np.abs(ratios - 1) < 0.075).all()


def test_speckle(scene):
    """Gamma speckle of 4.4 looks on a homogeneous parcel; backscatter by land cover."""
    sar = _sar_stack(scene)
    shares = _shares(scene)
    landcover, change, _ = _read(scene.truth_raster)
    homogeneous = [next(t.parcel_id for t in scene.truth.values() if t.landcover == name and not t.damaged_ha)
                   for name in ("forest", "meadow")]
    for pid in homogeneous:
        inside = np.zeros(sar.shape[2:], dtype=bool)
        inside[ROWS, COLS] = shares[pid] > 0
        for image in sar:
            vv = image[0][inside]
            assert vv.mean() ** 2 / vv.var() == pytest.approx(windthrow.LOOKS, rel=0.15)
    levels = 10 * np.log10(sar[:7, :, ROWS, COLS].mean(axis=0))
    for name, (vv, vh) in (("forest", (-7, -13)), ("meadow", (-11, -18)), ("field", (-13, -20)),
                           ("water", (-22, -28))):
        where = landcover == windthrow.CLASSES.index(name)
        assert np.median(levels[0][where]) == pytest.approx(vv, abs=0.8), name
        assert np.median(levels[1][where]) == pytest.approx(vh, abs=0.8), name


def test_sar_changes_only_where_the_land_changed(scene):
    sar = _sar_stack(scene)
    after = np.array([t > scene.event for t in scene.sar_times])
    change = np.zeros(sar.shape[2:], dtype=np.uint8)
    change[ROWS, COLS] = _read(scene.truth_raster)[1]
    before_mean, after_mean = sar[~after].mean(axis=0), sar[after].mean(axis=0)

    def shift(where):
        return 10 * np.log10(after_mean[:, where].mean(axis=1) / before_mean[:, where].mean(axis=1))

    assert shift(change == 1) == pytest.approx(windthrow.WINDTHROW_DB, abs=0.15)
    assert shift(change == 2) == pytest.approx((2.5, 1.0), abs=0.3)  # ploughed soil is rougher
    assert np.abs(shift(change == 0)).max() < 0.05
    # The project's own before/after test finds the windthrow pixel by pixel, and little else.
    p, _ = mean_ratio_test(sar[~after], sar[after], windthrow.LOOKS)
    flagged = p < 0.01
    assert flagged[change == 1].mean() > 0.9
    assert flagged[change == 0].mean() < 0.02


def test_same_seed_same_scene_other_seed_other_patches(scene, tmp_path):
    again = windthrow.write_windthrow_scene(tmp_path / "again")
    other = windthrow.write_windthrow_scene(tmp_path / "other", seed=1)
    for first, second in zip((scene.before, scene.after, scene.truth_raster, *scene.sar),
                             (again.before, again.after, again.truth_raster, *again.sar)):
        assert np.array_equal(_read(first), _read(second), equal_nan=True)
    assert again.truth == scene.truth
    assert not np.array_equal(_read(other.truth_raster)[1], _read(scene.truth_raster)[1])
    assert not np.array_equal(_read(other.sar[0]), _read(scene.sar[0]))
    # Whole-pixel parcels lose exactly their fraction whatever the seed.
    whole = [pid for pid, share in _shares(scene).items() if not ((share > 0) & (share < 1)).any()]
    assert len(whole) == len(scene.truth) - 1
    assert [other.truth[pid] for pid in whole] == [scene.truth[pid] for pid in whole]


def test_base_geotiff_cropped_where_vegetated(scene, tmp_path):
    """A GeoTIFF base: the crop is the vegetated window, its pixels kept where nothing is painted."""
    rng = np.random.default_rng(5)
    soil = np.array(windthrow._SPECTRA["soil"], dtype=float)[:, None, None]
    field = np.array(windthrow._SPECTRA["field"], dtype=float)[:, None, None]
    image = soil * rng.uniform(0.9, 1.1, (6, 300, 300))
    image[:, 24:, 16:] = (field * rng.uniform(0.9, 1.1, (6, 300, 300)))[:, 24:, 16:]
    grid = Grid(scene.grid.crs, scene.grid.transform, 300, 300)
    base = save_stack(image, grid.profile(bands=windthrow.BANDS, time=windthrow.BEFORE), tmp_path / "base.tif")
    written = windthrow.write_windthrow_scene(tmp_path / "scene", base=base)
    document = json.loads(written.truth_file.read_text(encoding="utf-8"))
    assert document["base"]["window"] == [24, 16]
    crop = np.rint(image[:, 24 + ROWS.start:24 + ROWS.stop, 16 + COLS.start:16 + COLS.stop])
    unpainted = _read(written.truth_raster)[0] == 0
    assert np.array_equal(_read(written.before)[:, unpainted], crop[:, unpainted])
    with pytest.raises(ValueError, match="smaller than the scene"):
        windthrow.write_windthrow_scene(tmp_path / "small", base=scene.before)


@pytest.mark.shared
def test_real_base(tmp_path):
    folder = shared_path("data", "oscd", "images", "saclay_w", "imgs_1")
    scene = windthrow.write_windthrow_scene(tmp_path, base=folder)
    document = json.loads(scene.truth_file.read_text(encoding="utf-8"))
    assert document["base"]["source"] == "images/saclay_w/imgs_1"
    row, col = document["base"]["window"]
    real, _ = read_stack(folder.parents[2], "saclay_w", 1, bands=windthrow.BANDS)
    real = real[:, row + ROWS.start:row + ROWS.stop, col + COLS.start:col + COLS.stop]
    before = _read(scene.before)
    landcover, change, cloud = _read(scene.truth_raster)
    unpainted = landcover == 0
    assert unpainted.mean() > 0.4
    assert np.array_equal(before[:, unpainted], np.rint(real[:, unpainted]).astype(np.uint16))
    # The crop is vegetated land, and the painted forest looks like forest.
    assert (_ndvi(before)[unpainted] > windthrow.VEGETATED).mean() > 0.3
    forest = landcover == windthrow.CLASSES.index("forest")
    assert _ndvi(before)[forest].min() > 0.75
    assert _ndvi(_read(scene.after))[(change == 1) & (cloud == 0)].max() < 0.45
    shares = _shares(scene)
    for pid, truth in scene.truth.items():
        assert shares[pid][change == 1].sum() / 100 == pytest.approx(truth.damaged_ha, abs=1e-6)
