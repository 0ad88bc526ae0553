"""The windthrow scenario CANDELA is validated on, written on demand: which forest parcels near
Toruń (Poland) did the storm of 11 August 2017 hit hardest?

:func:`write_windthrow_scene` writes into a folder:

- ``optical/before.tif`` and ``optical/after.tif``: Sentinel-2-like images of 30 July and 29
  September 2017 (bands B02 B03 B04 B08 B11 B12 described, reflectance x 10000 as uint16,
  nodata 0, ``ACQUISITION_DATE``), 256 x 256 pixels of 10 m in UTM zone 34N (EPSG:32634).
- ``sar/s1_<date>.tif``: seventeen Sentinel-1 images every 6 days (Sentinel-1A and 1B on one
  track, as in 2017) from 6 July to 10 October 2017, seven before the storm and ten after
  (enough looks for a before/after test to find single blown-down pixels), VV and VH linear
  sigma nought (float32, nodata NaN, tag ``UNITS=linear``) with gamma speckle of 4.4 looks (IW
  GRDH), on another grid: the same 10 m pixels over a larger extent (see :mod:`.windthrow_layout`).
- ``parcels.geojson``: 14 parcels (RFC 7946, EPSG:4326), forest and farmland, with the
  forester's attributes only (``parcel_id``, ``forest``); their ids say nothing of land cover.
- ``training.geojson``: labelled polygons (``class``: forest, meadow, field, water) describing
  the *before* state: classify the before image (and the radar images before the storm) with
  them, since blown-down forest is still forest land to a forester.
- ``truth.json``: per parcel ``parcel_id``, ``landcover``, ``damaged_fraction``,
  ``damaged_ha`` (area of the blown-down pixels inside the parcel, partly covered pixels by
  their exact share), ``area_ha`` and ``clouded``; and ``truth.tif`` on the optical grid
  (bands ``landcover``, ``change`` and ``cloud``; names in its tags).

The landscape: forest compartments (summer canopy, NDVI about 0.85, crown texture), meadows,
fields, a pond; and, without ``base``, roads, a village and meadow around them. Forest parcels
lose 0, 10, 25, 50 or 100 % of their area in patches a few pixels across, where the "after"
image shows broken wood and bare forest floor (NDVI about 0.3, NBR near 0) and the radar loses
volume scattering (VV -2.5 dB, VH -4 dB). One field is harvested and ploughed (its NDVI drops
and its backscatter rises), a change that is not windthrow, since it is not forest. Elsewhere
the "after" image differs only by a radiometric drift (up to 3 % per band) and 1 % noise.

A cloud hides one damaged woodlot in the "after" image: its pixels are no data (0), as after
a cloud mask (the SCL classes of Jpeg2Tiff's ``mask_clouds``) applied upstream; left as
bright reflectance it would read as change. The radar sees through it.

With ``base`` (an OSCD date folder such as ``../shared/data/oscd/images/saclay_w/imgs_1``, or
a GeoTIFF with those bands described) the "before" image is real reflectance: the most
vegetated crop of ``base`` (B11 and B12 brought onto the 10 m grid), re-georeferenced onto
the Toruń grid, with the parcels and the pond painted over it. The radar then sees that land
as water, bare land, field or meadow by its NDVI.
"""

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from scipy.ndimage import gaussian_filter
from shapely import affinity

from ..rasters.dating import format_time
from ..rasters.grid import Grid
from ..rasters.reading import band_indexes
from . import windthrow_layout as layout
from .oscd import read_stack, save_stack

BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")
SAR_BANDS = ("VV", "VH")
CRS_UTM = CRS.from_epsg(32634)
#: Top-left corner of the optical image, near 18.56 E 53.03 N, in the forests east of Toruń.
ORIGIN = (336000.0, 5878000.0)
PIXEL = 10.0
BEFORE = datetime(2017, 7, 30, 9, 50, 31, tzinfo=timezone.utc)
AFTER = datetime(2017, 9, 29, 9, 50, 31, tzinfo=timezone.utc)
#: The storm struck in the evening of 11 August 2017; any event date from 12 to 23 August
#: splits the radar series.
EVENT = datetime(2017, 8, 12, tzinfo=timezone.utc)
#: Ascending passes at 18:34 local time, so the one of 11 August came before the storm.
SAR_TIMES = tuple(datetime(2017, 7, 6, 16, 34, 12, tzinfo=timezone.utc) + i * timedelta(days=6) for i in range(17))
LOOKS = 4.4
#: Land-cover codes of ``truth.tif`` ("unlabelled": real land of ``base``, not painted).
CLASSES = ("unlabelled", "forest", "meadow", "field", "water", "built", "road", "bare")
CHANGES = ("none", "windthrow", "harvest")
FOREST_DISTRICT = "Nadleśnictwo Toruń"

# Reflectance x 10000 in BANDS order: summer canopy, broken wood and bare forest floor, ...
_SPECTRA = {
    "forest": (250, 450, 250, 3200, 1500, 650),
    "floor": (600, 800, 1000, 1800, 2600, 1900),
    "meadow": (420, 780, 560, 2900, 2100, 1100),
    "field": (400, 800, 450, 3800, 2100, 1050),
    "soil": (1000, 1300, 1600, 2200, 3000, 2600),
    "water": (600, 550, 350, 200, 100, 60),
    "built": (900, 1000, 1100, 1500, 2100, 1900),
    "road": (800, 900, 1000, 1200, 1600, 1500),
}
# Multiplicative texture per surface: (smoothing in pixels, amplitude): tree crowns and their
# shadows, grass tussocks, crop rows, roofs against gardens, ...
_TEXTURE = {
    "forest": (0.7, 0.10), "floor": (0.6, 0.12), "meadow": (2.5, 0.05), "field": (1.0, 0.04),
    "soil": (1.5, 0.06), "water": (3.0, 0.03), "built": (0.0, 0.18), "road": (0.0, 0.04),
}
# Mean backscatter (VV, VH) in dB.
_BACKSCATTER = {
    "forest": (-7.0, -13.0), "meadow": (-11.0, -18.0), "field": (-13.0, -20.0), "water": (-22.0, -28.0),
    "built": (-5.0, -12.0), "road": (-16.0, -24.0), "bare": (-12.0, -20.0),
}
WINDTHROW_DB = (-2.5, -4.0)
PLOUGHED_DB = (-10.5, -19.0)
DRIFT = 0.03
NOISE = 0.01
BAND_NOISE = 0.02
PARCEL_BRIGHTNESS = 0.04
PARCEL_DB = 0.5
#: The crop of a real base: the window with the largest share of NDVI above VEGETATED, among
#: windows every STRIDE pixels holding no missing value.
VEGETATED = 0.4
STRIDE = 8
#: NDVI bounds of the classes the radar sees in real land (below: water, bare, field; above: meadow).
_REAL_NDVI = (0.0, 0.25, 0.5)
# Random streams, so that one part does not move when another changes.
_LAYOUT, _OPTICAL, _SAR = 0, 1, 2


@dataclass(frozen=True)
class ParcelTruth:
    """What happened to one parcel."""

    parcel_id: str
    landcover: str
    damaged_fraction: float
    damaged_ha: float
    area_ha: float
    clouded: bool


@dataclass(frozen=True)
class Scene:
    """The files of a windthrow scene, its grids and times, and the truth per parcel."""

    folder: Path
    before: Path
    after: Path
    sar: tuple
    parcels: Path
    training: Path
    truth_file: Path
    truth_raster: Path
    grid: Grid
    sar_grid: Grid
    optical_times: tuple
    sar_times: tuple
    event: datetime
    truth: dict = field(compare=False, repr=False)  # parcel_id -> ParcelTruth


def write_windthrow_scene(folder, seed=0, base=None):
    """Write the scene into ``folder`` (see the module); return its :class:`Scene`.

    ``seed`` draws the patches, textures, drift, cloud edge and speckle; the layout is fixed.
    """
    folder = Path(folder)
    for sub in ("optical", "sar"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    sar_grid = Grid(CRS_UTM, Affine(PIXEL, 0, ORIGIN[0] - layout.MARGIN[1] * PIXEL, 0, -PIXEL,
                                    ORIGIN[1] + layout.MARGIN[0] * PIXEL), layout.CANVAS[1], layout.CANVAS[0])
    grid = Grid(CRS_UTM, Affine(PIXEL, 0, ORIGIN[0], 0, -PIXEL, ORIGIN[1]), layout.SIZE, layout.SIZE)
    real = _read_base(base) if base is not None else None
    land = _land(np.random.default_rng([seed, _LAYOUT]), real)
    optical = _optical(land, real, np.random.default_rng([seed, _OPTICAL]))
    window = _optical_window()
    before = save_stack(optical[0][window], grid.profile(bands=BANDS, time=BEFORE), folder / "optical" / "before.tif")
    after = save_stack(optical[1][window], grid.profile(bands=BANDS, time=AFTER), folder / "optical" / "after.tif")
    sar = _write_sar(folder / "sar", land, sar_grid, seed)
    truth = _truth(land)
    return Scene(folder, before, after, sar, _write_parcels(folder / "parcels.geojson", grid),
                 _write_training(folder / "training.geojson", grid), _write_truth(folder / "truth.json", truth, real),
                 _write_truth_raster(folder / "truth.tif", land, grid), grid, sar_grid, (BEFORE, AFTER), SAR_TIMES,
                 EVENT, {t.parcel_id: t for t in truth})


@dataclass
class _Land:
    """The scene on the canvas (the radar grid): what covers each pixel, and what changes."""

    cover: np.ndarray  # class codes (CLASSES), the before state
    painted: np.ndarray  # pixels drawn here rather than taken from the real image
    parcel: np.ndarray  # index of the parcel (0-based) on each pixel, -1 outside
    shares: list  # per parcel: pixel shares inside it
    damaged: np.ndarray  # blown down (forest)
    harvested: np.ndarray
    cloud: np.ndarray
    real_ndvi: np.ndarray = None  # of the real image, with a base


def _on_canvas(row, col, height, width):
    """Slices of the canvas for a rectangle given in optical pixels."""
    top, left = row + layout.MARGIN[0], col + layout.MARGIN[1]
    return np.s_[top:top + height, left:left + width]


def _optical_window():
    return np.s_[:, *_on_canvas(0, 0, layout.SIZE, layout.SIZE)]


def _land(rng, real):
    code = CLASSES.index
    shape = layout.CANVAS
    if real is None:
        cover = np.full(shape, code("meadow"), dtype=np.uint8)
        village = cover[_on_canvas(*layout.VILLAGE)]
        size = layout.VILLAGE_BLOCK
        blocks = rng.random((village.shape[0] // size + 1, village.shape[1] // size + 1)) < layout.VILLAGE_BUILT
        houses = np.repeat(np.repeat(blocks, size, 0), size, 1)[:village.shape[0], :village.shape[1]]
        village[houses] = code("built")
        for road in layout.ROADS:
            cover[_on_canvas(*road)] = code("road")
        painted = np.ones(shape, dtype=bool)
    else:
        cover = np.full(shape, code("unlabelled"), dtype=np.uint8)
        painted = np.zeros(shape, dtype=bool)
    row, col, rows, cols = layout.POND
    pond = layout.ellipse_mask((row + layout.MARGIN[0], col + layout.MARGIN[1]), (rows, cols))
    cover[pond], painted[pond] = code("water"), True
    parcel = np.full(shape, -1, dtype=np.int16)
    shares, damaged, harvested = [], np.zeros(shape, dtype=bool), np.zeros(shape, dtype=bool)
    for index, plan in enumerate(layout.PLANS):
        share = layout.coverage(layout.on_canvas(plan.outline))
        inside = share > 0
        cover[inside], painted[inside], parcel[inside] = code(plan.landcover), True, index
        shares.append(share)
        if plan.fraction:
            damaged |= layout.windthrow(rng, share, plan.fraction)
        if plan.harvested:
            harvested |= inside
    return _Land(cover, painted, parcel, shares, damaged, harvested, layout.cloud_mask(rng),
                 None if real is None else _ndvi(real.reflectance))


@dataclass(frozen=True)
class _Real:
    """The real "before" reflectance on the canvas, and where it came from."""

    reflectance: np.ndarray  # bands, canvas rows, cols
    source: str
    window: tuple  # (row, col) of the crop's top-left pixel on the base's 10 m grid


def _read_base(base):
    """The most vegetated crop of a real image the size of the canvas (see the module)."""
    path = Path(base)
    if path.is_dir():
        match = re.fullmatch(r"imgs_([12])", path.name)
        if not match:
            raise ValueError(f"{path.name}: not an OSCD date folder (imgs_1 or imgs_2)")
        stack, _ = read_stack(path.parents[2], path.parent.name, int(match.group(1)), bands=BANDS)
    else:
        with rasterio.open(path) as dataset:
            stack = dataset.read(band_indexes(dataset, BANDS)).astype(np.float32)
    stack = np.where(stack > 0, stack, np.nan)  # 0 is no data in Sentinel-2 rasters
    row, col = _vegetated_window(stack, layout.CANVAS)
    crop = stack[:, row:row + layout.CANVAS[0], col:col + layout.CANVAS[1]].astype(float)
    return _Real(crop, "/".join(path.parts[-3:]), (row, col))


def _vegetated_window(stack, shape):
    """Top-left (row, col) of the window of ``shape`` chosen as the crop (see VEGETATED)."""
    if stack.shape[1] < shape[0] or stack.shape[2] < shape[1]:
        raise ValueError(f"the base image ({stack.shape[1]} x {stack.shape[2]} pixels) is smaller than "
                         f"the scene and its radar margin ({shape[0]} x {shape[1]})")
    valid = np.isfinite(stack).all(axis=0)
    vegetated = _window_sums(valid & (np.nan_to_num(_ndvi(stack)) > VEGETATED), shape)[::STRIDE, ::STRIDE]
    missing = _window_sums(~valid, shape)[::STRIDE, ::STRIDE]
    score = np.where(missing == 0, vegetated, -1)
    if score.max() < 0:
        raise ValueError("every crop of the base image has missing values")
    row, col = np.unravel_index(np.argmax(score), score.shape)
    return int(row) * STRIDE, int(col) * STRIDE


def _window_sums(values, shape):
    """Sum of ``values`` over every window of ``shape`` (by top-left pixel)."""
    total = np.pad(values.astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    h, w = shape
    return total[h:, w:] - total[:-h, w:] - total[h:, :-w] + total[:-h, :-w]


def _ndvi(stack):
    red, nir = stack[BANDS.index("B04")], stack[BANDS.index("B08")]
    return (nir - red) / (nir + red)


def _optical(land, real, rng):
    """Reflectance x 10000 (bands, canvas rows, cols) before and after; NaN = no data."""
    shape = layout.CANVAS
    before = np.empty((len(BANDS), *shape))
    for code, name in enumerate(CLASSES):
        if name in _SPECTRA:
            pixels = land.painted & (land.cover == code)
            before[:, pixels] = _surface(rng, name, shape)[:, pixels]
    # A parcel is a stand or a crop of its own: a little brighter or darker than the others.
    brightness = 1 + PARCEL_BRIGHTNESS * rng.standard_normal(len(layout.PLANS) + 1)
    before *= np.where(land.parcel >= 0, brightness[land.parcel], 1.0)
    before *= 1 + BAND_NOISE * _clipped(rng.standard_normal(before.shape))
    if real is None:
        # Soil moisture and illumination vary slowly across the landscape.
        before *= 1 + 0.04 * _smooth(rng, shape, 20)
    else:
        before[:, ~land.painted] = real.reflectance[:, ~land.painted]
    gain = 1 + rng.uniform(-DRIFT, DRIFT, (len(BANDS), 1, 1))
    after = before * gain * (1 + NOISE * _clipped(rng.standard_normal(before.shape)))
    for mask, name in ((land.damaged, "floor"), (land.harvested, "soil")):
        after[:, mask] = (_surface(rng, name, shape) * gain * (1 + BAND_NOISE * _clipped(
            rng.standard_normal(before.shape))))[:, mask]
    after[:, land.cloud] = np.nan
    return before, after


def _surface(rng, name, shape):
    """A textured surface of spectrum ``name`` over the whole canvas."""
    sigma, amplitude = _TEXTURE[name]
    texture = _smooth(rng, shape, sigma) if sigma else _clipped(rng.standard_normal(shape))
    return np.asarray(_SPECTRA[name], dtype=float)[:, None, None] * (1 + amplitude * texture)


def _smooth(rng, shape, sigma):
    """Gaussian noise smoothed over ``sigma`` pixels, scaled to unit spread and clipped at 3."""
    noise = gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    return _clipped(noise / noise.std())


def _clipped(values):
    return np.clip(values, -3, 3)


def _write_sar(folder, land, grid, seed):
    """Write the radar series; return the paths in time order."""
    rng = np.random.default_rng([seed, _SAR])
    before_db = np.empty((2, *layout.CANVAS))
    for code, name in enumerate(CLASSES):
        if name in _BACKSCATTER:
            before_db[:, land.cover == code] = np.asarray(_BACKSCATTER[name])[:, None]
    unlabelled = land.cover == CLASSES.index("unlabelled")
    if unlabelled.any():
        before_db[:, unlabelled] = _real_backscatter(land.real_ndvi)[:, unlabelled]
    # Each parcel backscatters a little differently; unparcelled land varies slowly.
    offsets = PARCEL_DB * rng.standard_normal((2, len(layout.PLANS) + 1))
    before_db += np.where(land.parcel >= 0, offsets[:, land.parcel], PARCEL_DB * np.stack(
        [_smooth(rng, layout.CANVAS, 8) for _ in SAR_BANDS]))
    after_db = before_db.copy()
    after_db[:, land.damaged] += np.asarray(WINDTHROW_DB)[:, None]
    after_db[:, land.harvested] = (np.asarray(PLOUGHED_DB)[:, None] + offsets[:, land.parcel[land.harvested]])
    paths = []
    for index, when in enumerate(SAR_TIMES):
        mean = 10 ** ((before_db if when < EVENT else after_db) / 10)
        speckled = mean * np.random.default_rng([seed, _SAR, 1 + index]).gamma(LOOKS, 1 / LOOKS, mean.shape)
        path = save_stack(speckled.astype(np.float32), grid.profile(bands=SAR_BANDS, time=when),
                          folder / f"s1_{when:%Y%m%d}.tif", dtype="float32")
        with rasterio.open(path, "r+") as dataset:
            dataset.update_tags(UNITS="linear")
        paths.append(path)
    return tuple(paths)


def _real_backscatter(ndvi):
    """Backscatter (VV, VH; dB) of real land, by the class its NDVI suggests."""
    table = np.array([_BACKSCATTER[name] for name in ("water", "bare", "field", "meadow")])
    return table[np.digitize(ndvi, _REAL_NDVI)].transpose(2, 0, 1)


def _truth(land):
    """What happened to each parcel (areas in hectares, partly covered pixels by their share)."""
    result = []
    for index, (plan, share) in enumerate(zip(layout.PLANS, land.shares)):
        area = float(share.sum()) * PIXEL * PIXEL / 1e4
        damaged = float(share[land.damaged].sum()) * PIXEL * PIXEL / 1e4
        result.append(ParcelTruth(layout.parcel_id(index), plan.landcover, damaged / area, damaged, area,
                                  bool((share[land.cloud] > 0).any())))
    return result


def _to_map(shape, grid):
    """A shape in optical pixel units in map coordinates of ``grid`` (the optical grid)."""
    t = grid.transform
    return affinity.affine_transform(shape, (t.a, t.b, t.d, t.e, t.c, t.f))


def _write_geojson(frame, path):
    # RFC 7946, but with 12 decimals (0.1 micrometre) rather than its default 7 (1 cm), so that
    # edges drawn on pixel boundaries stay there once projected back.
    path.unlink(missing_ok=True)  # GDAL's GeoJSON driver does not overwrite
    frame.to_crs("EPSG:4326").to_file(path, driver="GeoJSON", engine="pyogrio", RFC7946="YES",
                                      COORDINATE_PRECISION=12)
    return path


def _write_parcels(path, grid):
    ids = [layout.parcel_id(index) for index in range(len(layout.PLANS))]
    frame = gpd.GeoDataFrame({"parcel_id": ids, "forest": [FOREST_DISTRICT] * len(ids)},
                             geometry=[_to_map(plan.outline, grid) for plan in layout.PLANS], crs=grid.crs)
    return _write_geojson(frame, path)


def _write_training(path, grid):
    frame = gpd.GeoDataFrame({"class": [name for name, _ in layout.TRAINING]},
                             geometry=[_to_map(shape, grid) for _, shape in layout.TRAINING], crs=grid.crs)
    return _write_geojson(frame, path)


def _write_truth(path, truth, real):
    document = {
        "scenario": "windthrow near Toruń, Poland: storm of 11 August 2017",
        "before": format_time(BEFORE), "after": format_time(AFTER), "event": format_time(EVENT),
        "pixel_size_m": PIXEL,
        "base": None if real is None else {"source": real.source, "window": list(real.window)},
        "parcels": [vars(t) for t in truth],
    }
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _write_truth_raster(path, land, grid):
    window = _optical_window()[1:]
    change = np.where(land.damaged, CHANGES.index("windthrow"), np.where(land.harvested, CHANGES.index("harvest"), 0))
    layers = np.stack([land.cover[window], change[window], land.cloud[window]]).astype(np.uint8)
    profile = grid.profile(driver="GTiff", count=3, dtype="uint8", compress="deflate")
    with rasterio.open(path, "w", **profile) as out:
        out.write(layers)
        out.descriptions = ("landcover", "change", "cloud")
        out.update_tags(CLASSES=",".join(CLASSES), CHANGES=",".join(CHANGES))
    return path
