"""ChangeDetect targets: vegetation loss sharp at the pixel, urban change, the gates, and the
map's tags (target, change period); then one real OSCD crop.

TensorFlow runs only in forked children (tests/helpers/isolated.py explains why).
"""

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window, transform as window_transform
from scipy.ndimage import gaussian_filter

from candela.change import changedetect, targets
from candela.datasets import oscd
from candela.errors import InputError
from candela.learning.models import Model
from candela.rasters.dating import format_time
from helpers.isolated import run_isolated
from helpers.paths import shared_path
from helpers.rasters import day, write_optical

SIX = ("B02", "B03", "B04", "B08", "B11", "B12")
# Sentinel-2 surface reflectance x 10000 of B02, B03, B04, B08, B11, B12.
FOREST = (250, 450, 250, 3500, 1500, 700)  # NDVI 0.87
CLEARED = (700, 900, 1100, 1700, 2600, 1900)  # felled or wind-thrown: soil and debris, NDVI 0.21
BARE = (1000, 1200, 1500, 2200, 3000, 2400)  # NDVI 0.19
GREEN = (300, 600, 350, 4000, 2000, 900)  # a crop come up, NDVI 0.84
ROOF = (1800, 1900, 2000, 2300, 2600, 2400)  # NDVI 0.07
WATER = (400, 500, 300, 150, 80, 50)  # NDWI 0.54
SHAPE = (160, 192)
#: Top-left corners of the 3 x 3 canopy-loss patches: 14 to 19 pixels apart, at every parity
#: of row and column against the encoder's 2 x 2 cells.
CLEARINGS = [(r + c % 2, c) for r in range(10, 100, 16) for c in range(10, 180, 19)]
#: 6 x 6 patches of other changes, as (name, rows, cols, before, after).
OTHERS = [("gain", slice(120, 126), slice(20, 26), BARE, GREEN),
          ("roof", slice(120, 126), slice(80, 86), BARE, ROOF),
          ("water", slice(120, 126), slice(140, 146), BARE, WATER)]


def spectrum(values):
    return np.array(values, dtype=np.float32)[:, None, None]


def forest_pair(folder, bands=SIX):
    """A textured forest on two dates (other gain and offset, sensor noise) with 3 x 3
    clearings and the :data:`OTHERS`; the two GeoTIFFs with ``bands``, and the clearings' mask."""
    rng = np.random.default_rng(0)
    texture = gaussian_filter(rng.normal(size=SHAPE), 2)
    before = spectrum(FOREST) * (1 + 0.08 * texture / texture.std())
    after = before * 1.05 + 30 + rng.normal(scale=20, size=before.shape)
    cleared = np.zeros(SHAPE, dtype=bool)
    for row, col in CLEARINGS:
        after[:, row:row + 3, col:col + 3] = spectrum(CLEARED) * (1 + 0.03 * rng.normal(size=(1, 3, 3)))
        cleared[row:row + 3, col:col + 3] = True
    for _, rows, cols, first, second in OTHERS:
        before[:, rows, cols] = spectrum(first)
        after[:, rows, cols] = spectrum(second) * 1.05 + 30
    keep = [SIX.index(b) for b in bands]
    paths = []
    for name, image, when in (("before", before, day(3)), ("after", after, day(28))):
        path = write_optical(folder / f"{name}.tif", image[keep].astype(np.float32), descriptions=bands)
        with rasterio.open(path, "r+") as dataset:
            dataset.update_tags(ACQUISITION_DATE=format_time(when))
        paths.append(path)
    return paths[0], paths[1], cleared


def maps(before, after, folder, method="autoencoder", **options):
    """Each target's map (array), tags and summary, in one forked child."""
    def run():
        found = {}
        for target in targets.TARGETS:
            path = folder / f"{target}.tif"
            summary = changedetect.detect(before, after, path, method=method, target=target, **options)
            with rasterio.open(path) as dataset:
                found[target] = (dataset.read(1), dataset.tags(), summary)
        return found
    return run_isolated(run)


def neighbours(mask):
    """Pixels next to ``mask`` (8-connected) but not in it."""
    grown = mask.copy()
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            grown |= np.roll(np.roll(mask, dr, axis=0), dc, axis=1)
    return grown & ~mask


@pytest.fixture(scope="module")
def forest(tmp_path_factory):
    folder = tmp_path_factory.mktemp("forest")
    before, after, cleared = forest_pair(folder)
    return maps(before, after, folder), cleared


def test_vegetation_loss_finds_the_clearings_to_the_pixel(forest):
    found, cleared = forest
    ring = neighbours(cleared)
    loss, spread = found["vegetation_loss"][0] > 0.5, found["any"][0] > 0.5
    # The feature distance spreads beyond the clearings (2 x 2 cells, interpolated)...
    assert spread[ring].mean() > 0.5
    # ...the gate from each pixel's own indices keeps only the clearings.
    assert abs(loss.sum() - cleared.sum()) <= 0.2 * cleared.sum()
    assert loss[cleared].mean() > 0.9
    assert not loss[ring].any()
    assert not loss[~cleared].any()


def test_other_changes_are_kept_by_any_and_dropped_by_vegetation_loss(forest):
    found, _ = forest
    for name, rows, cols, _, _ in OTHERS:
        centre = (slice(rows.start + 1, rows.stop - 1), slice(cols.start + 1, cols.stop - 1))
        assert (found["any"][0][centre] > 0.5).all(), name
        assert (found["vegetation_loss"][0][centre] < 0.5).all(), name
        assert (found["urban"][0][centre] > 0.5).all() == (name == "roof"), name


def test_urban_drops_the_clearings_and_the_forest_around_them(forest):
    found, cleared = forest
    urban = found["urban"][0] > 0.5
    assert not urban[cleared | neighbours(cleared)].any()
    roof = np.zeros(SHAPE, dtype=bool)
    roof[OTHERS[1][1], OTHERS[1][2]] = True
    assert urban[roof].mean() > 0.9
    assert urban[~roof].mean() < 0.001


def test_any_is_the_plain_change_probability(forest, tmp_path):
    found, _ = forest
    plain = run_isolated(_plain, tmp_path)
    assert found["any"][0].tobytes() == plain.tobytes()


def _plain(folder):
    before, after, _ = forest_pair(folder)
    changedetect.detect(before, after, folder / "plain.tif")
    with rasterio.open(folder / "plain.tif") as dataset:
        return dataset.read(1)


def test_maps_stay_probabilities_and_say_their_target_and_period(forest):
    found, _ = forest
    for target, (values, tags, summary) in found.items():
        assert values.dtype == np.float32 and np.isfinite(values).all()
        assert values.min() >= 0 and values.max() <= 1
        assert tags["CHANGE_TARGET"] == summary["target"] == target
        assert (tags["PERIOD_START"], tags["PERIOD_END"]) == (format_time(day(3)), format_time(day(28)))
        assert summary["changed_fraction"] == pytest.approx(np.mean(values > 0.5), abs=1e-6)
    assert found["any"][2]["target_indices"] is None
    assert found["vegetation_loss"][2]["target_indices"] == ["NDVI", "NBR", "NDMI"]
    assert found["urban"][2]["target_indices"] == ["NDVI", "NDWI"]


def test_four_bands_gate_on_ndvi_alone_window_by_window_with_nodata(tmp_path):
    """Without B11 and B12 in both images, vegetation loss uses NDVI only; windows do not
    change the map; no data stays NaN."""
    four = ("B02", "B03", "B04", "B08")
    before, after, cleared = forest_pair(tmp_path, bands=four)
    with rasterio.open(after, "r+") as dataset:
        values = dataset.read()
        values[:, :20, :30] = np.nan
        dataset.write(values)

    def run():
        found = []
        for window in (48, 1024):
            path = tmp_path / f"w{window}.tif"
            summary = changedetect.detect(before, after, path, target="vegetation_loss", window=window)
            with rasterio.open(path) as dataset:
                found.append((dataset.read(1), summary))
        return found

    (small, summary), (whole, _) = run_isolated(run)
    assert summary["target_indices"] == ["NDVI"]
    assert small.tobytes() == whole.tobytes()
    assert np.isnan(whole[:20, :30]).all() and np.isfinite(whole[20:, 30:]).all()
    assert abs((whole > 0.5).sum() - cleared[20:].sum()) <= 0.2 * cleared[20:].sum()


def test_the_period_comes_from_sentinel_names_never_from_when_a_tiff_was_written(tmp_path):
    before, after, _ = forest_pair(tmp_path, bands=("B02", "B03", "B04", "B08"))
    for path in (before, after):
        with rasterio.open(path, "r+") as dataset:
            dataset.update_tags(ACQUISITION_DATE="", TIFFTAG_DATETIME="2024:05:01 12:00:00")
    names = ("S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.tif", None)

    def tags(**options):
        changedetect.detect(before, after, tmp_path / "change.tif", method="raw", **options)
        with rasterio.open(tmp_path / "change.tif") as dataset:
            return dataset.tags()

    named, undated = run_isolated(lambda: (tags(names=names), tags()))
    assert named["PERIOD_START"] == "2022-10-05T11:54:11Z" and "PERIOD_END" not in named
    assert "PERIOD_START" not in undated and "PERIOD_END" not in undated
    assert undated["CHANGE_TARGET"] == "any"


def test_unknown_targets_and_missing_bands_are_named(tmp_path):
    with pytest.raises(InputError, match="unknown target 'forest'; use one of any, vegetation_loss, urban") as caught:
        targets.check_target("forest")
    assert caught.value.input == "target"
    assert targets.check_target(" Urban ") == "urban" and targets.check_target(None) == "any"
    before, after, _ = forest_pair(tmp_path, bands=("B02", "B03", "B08", "B11"))
    model = Model("no-red", {"bands": ["B02", "B03", "B08", "B11"]}, tmp_path / "none.h5")
    changedetect.detect(before, after, tmp_path / "change.tif", method="raw", model=model)  # 'any' needs no B04
    with pytest.raises(InputError, match="target 'urban' needs bands B03, B04, B08; .*missing B04") as caught:
        changedetect.detect(before, after, tmp_path / "change.tif", method="raw", model=model, target="urban")
    assert caught.value.input == "before"


def test_gates_are_smooth_and_follow_their_rule():
    def bands(values):
        return {name: np.array([float(v)], dtype=np.float32) for name, v in zip(SIX, values)}

    forest, cleared, bare, roof, water = map(bands, (FOREST, CLEARED, BARE, ROOF, WATER))
    loss = lambda a, b: float(targets.vegetation_loss(a, b, ("NDVI", "NBR", "NDMI"))[0])  # noqa: E731
    urban = lambda a, b: float(targets.urban(a, b)[0])  # noqa: E731
    assert loss(forest, cleared) > 0.95 and loss(cleared, forest) < 0.01 and loss(forest, forest) < 0.05
    assert loss(bare, water) < 0.1  # NDVI falls, but the ground was not vegetated
    assert urban(bare, roof) > 0.95 and urban(forest, cleared) < 0.01 and urban(forest, forest) < 0.01
    assert urban(bare, water) < 0.01 and urban(water, roof) < 0.01
    # A drop of NDMI alone (a canopy drying before it browns) counts where B11 is read.
    drying = bands((250, 450, 250, 3500, 2600, 700))
    assert loss(forest, drying) > 0.9 and float(targets.vegetation_loss(forest, drying)[0]) < 0.05
    drops = np.linspace(-0.5, 0.8, 200, dtype=np.float32)
    gate = targets.logistic(drops, targets.CHANGE_MIDPOINT, targets.CHANGE_WIDTH)
    assert np.all(np.diff(gate) >= 0) and np.abs(np.diff(gate)).max() < 0.06  # monotone, no jump
    assert gate[0] >= 0 and gate[-1] <= 1


# Real data: one OSCD crop (urban change labels)


@pytest.mark.shared
def test_on_a_real_oscd_crop_urban_keeps_more_labelled_change_than_vegetation_loss(tmp_path):
    root = shared_path("data", "oscd")
    rows, cols = slice(32, 288), slice(288, 544)  # the 256 x 256 crop of rennes with the most labelled change
    window = Window(cols.start, rows.start, 256, 256)
    paths = []
    for index in (1, 2):
        stack, profile = oscd.read_stack(root, "rennes", index, bands=SIX, grid_of=1)
        profile = dict(profile, height=256, width=256,
                       transform=window_transform(window, profile["transform"]))
        paths.append(oscd.save_stack(stack[:, rows, cols], profile, tmp_path / f"rennes_{index}.tif"))
    labels = oscd.read_labels(root, "rennes")[rows, cols]
    assert labels.sum() > 2000
    found = maps(paths[0], paths[1], tmp_path)
    flagged = {target: values > 0.5 for target, (values, _, _) in found.items()}
    kept = {target: flags[labels].mean() for target, flags in flagged.items()}
    assert kept["urban"] >= kept["vegetation_loss"]
    assert kept["urban"] > 0.5 * kept["any"]
    assert flagged["vegetation_loss"].sum() <= flagged["any"].sum()
    assert found["vegetation_loss"][2]["target_indices"] == ["NDVI", "NBR", "NDMI"]


def test_single_felled_pixels_count_and_a_browning_season_does_not(tmp_path):
    """A felled patch of one or two pixels is lost in the 2 x 2 feature distance: its own index
    drop counts. A scene-wide drop (two seasons) is the scene's, not canopy loss."""
    rng = np.random.default_rng(1)
    texture = gaussian_filter(rng.normal(size=SHAPE), 2)
    before = spectrum(FOREST) * (1 + 0.08 * texture / texture.std())
    after = before + rng.normal(scale=20, size=before.shape)
    felled = np.zeros(SHAPE, dtype=bool)
    for row in range(8, 150, 11):
        for col in range(8, 180, 13):
            size = 1 + (row + col) % 2
            after[:, row:row + size, col] = spectrum(CLEARED)[:, :, 0]
            felled[row:row + size, col] = True
    autumn = after.copy()
    autumn[2] *= 2.2  # red up, NIR down: NDVI falls by about 0.3 everywhere, felled pixels further
    autumn[3] *= 0.85
    paths = []
    for name, image in (("before", before), ("after", after), ("autumn", autumn)):
        paths.append(write_optical(tmp_path / f"{name}.tif", image.astype(np.float32), descriptions=SIX))

    def run():
        found = {}
        for name, second in (("summer", paths[1]), ("autumn", paths[2])):
            path = tmp_path / f"{name}_loss.tif"
            changedetect.detect(paths[0], second, path, target="vegetation_loss")
            with rasterio.open(path) as dataset:
                found[name] = dataset.read(1)
        return found

    found = run_isolated(run)
    loss = found["summer"] > 0.5
    assert abs(loss.sum() - felled.sum()) <= 0.2 * felled.sum() and not loss[neighbours(felled)].any()
    assert (found["autumn"][~felled] > 0.5).mean() < 0.01  # the season's browning is not loss


def test_a_crop_mostly_felled_keeps_its_damage():
    """Two thirds of the vegetated pixels felled: the scene's shift stays that of the standing third."""
    rng = np.random.default_rng(2)
    before = {b: np.full((30, 30), v, np.float32) * (1 + 0.02 * rng.normal(size=(30, 30)))
              for b, v in zip(SIX, FOREST)}
    after = {b: v.copy() for b, v in before.items()}
    for b, v in zip(SIX, CLEARED):
        after[b][:20] = v
    valid = np.ones((30, 30), bool)
    shift = targets.typical_drop(before, after, ("NDVI", "NBR", "NDMI"), valid)
    assert shift < 0.05
    loss = targets.canopy_loss(before, after, ("NDVI", "NBR", "NDMI"), shift)
    assert (loss[:20] > 0.9).all() and (loss[20:] < 0.1).all()
