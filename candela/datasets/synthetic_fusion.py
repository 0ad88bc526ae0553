"""A synthetic Sentinel-2 + Sentinel-1 scene of fields where fusing both sensors helps.

:func:`write_fusion_scene` tiles a UTM grid (EPSG:32633, 10 m pixels) into fields (jittered
Voronoi parcels about 20 px across) of four classes, chosen so that neither sensor alone
tells all four apart:

- ``smooth_soil`` and ``ploughed_soil`` are the same bare soil to the optical bands (one
  reflectance distribution in every band) but not to the radar: roughness raises the
  backscatter (VV -15 vs -11 dB, VH -23 vs -19 dB);
- ``meadow`` and ``dry_grass`` share one canopy structure, hence one backscatter (VV -11,
  VH -17.5 dB), but not their greenness (NDVI 0.72-0.78 vs 0.26-0.34).

Optical images are L2A reflectance x 10000 (uint16, nodata 0) in bands B02 B03 B04 B08 B11
B12, with per-parcel offsets and per-pixel noise; ``dates`` > 1 gives a series in which the
grasses' greenness follows a season. The radar image holds VV and VH sigma nought (float32,
nodata NaN, linear or dB) with per-parcel offsets and gamma speckle of 4.4 looks, as in IW
GRDH products, so single pixels are noisy and averaging neighbours helps. Every image
carries ``ACQUISITION_DATE``; everything follows from ``seed``.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.features import rasterize, shapes
from scipy.spatial import cKDTree
from shapely.geometry import shape

from ..rasters.grid import Grid
from .oscd import save_stack

CLASSES = ("meadow", "dry_grass", "smooth_soil", "ploughed_soil")
#: The pair the optical bands cannot tell apart, and the pair the radar cannot.
OPTICALLY_CONFUSED = ("smooth_soil", "ploughed_soil")
RADAR_CONFUSED = ("meadow", "dry_grass")
OPTICAL_BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")
SAR_BANDS = ("VV", "VH")
SAR_UNITS = ("linear", "dB")
SAR_GRIDS = ("same", "coarser")
CRS_UTM = CRS.from_epsg(32633)
ORIGIN = (400000.0, 5340000.0)
PIXEL = 10.0
#: Acquisition of the first optical image; later ones follow every REVISIT.
START = datetime(2023, 5, 1, 10, 20, 31, tzinfo=timezone.utc)
REVISIT = timedelta(days=10)
#: The radar image is taken on the next morning's descending pass.
SAR_DELAY = timedelta(hours=19, minutes=22, seconds=41)
LOOKS = 4.4
PARCEL_SPACING = 20

# Reflectance x 10000 of a green canopy, a dry one and bare soil, in OPTICAL_BANDS order.
_GREEN = np.array([350, 650, 400, 3300, 1700, 800], dtype=float)
_DRY = np.array([750, 1050, 1350, 2300, 3000, 2200], dtype=float)
_SOIL = np.array([950, 1250, 1550, 2050, 2900, 2500], dtype=float)
# Mean backscatter (VV, VH) in dB per class, in CLASSES order.
_BACKSCATTER_DB = np.array([[-11.0, -17.5], [-11.0, -17.5], [-15.0, -23.0], [-11.0, -19.0]])
# Random streams, so that the layout does not depend on how many dates are written.
_LAYOUT, _SAR, _OPTICAL = 0, 1, 2


@dataclass(frozen=True)
class FusionScene:
    """The files of a scene and what is known about it.

    ``optical``: one GeoTIFF per date; ``sar``: the radar GeoTIFF; ``truth``: uint8 class
    raster on ``grid`` whose values index ``classes``; ``parcels``: the fields (columns
    ``parcel``, ``class``, ``geometry``); ``optical_times`` and ``sar_time``: acquisition times.
    """

    optical: tuple
    sar: Path
    truth: Path
    classes: tuple
    grid: Grid
    optical_times: tuple
    sar_time: datetime
    sar_units: str
    parcels: gpd.GeoDataFrame = field(compare=False, repr=False)


def write_fusion_scene(folder, *, size=200, seed=0, dates=1, sar_units="linear", sar_grid="same", cloud=False):
    """Write a scene of ``size`` x ``size`` pixels into ``folder``; return its :class:`FusionScene`.

    ``sar_grid`` "coarser" writes the radar image at 20 m over the same extent (so readers
    must resample it). ``cloud`` blanks a square of each optical image (nodata), as a
    cloud mask would.
    """
    _check(size, dates, sar_units, sar_grid)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    grid = Grid(CRS_UTM, Affine(PIXEL, 0, ORIGIN[0], 0, -PIXEL, ORIGIN[1]), size, size)
    layout = np.random.default_rng([seed, _LAYOUT])
    ids = parcel_raster(size, layout)
    kinds = layout.permutation(np.resize(np.arange(len(CLASSES)), ids.max()))
    truth = kinds[ids - 1].astype(np.uint8)
    optical = _write_optical(folder, grid, truth, ids, layout, seed, dates, cloud)
    sar, sar_time = _write_sar(folder, grid, truth, ids, seed, sar_units, sar_grid)
    return FusionScene(tuple(optical), sar, _write_truth(folder / "truth.tif", truth, grid), CLASSES, grid,
                       tuple(START + i * REVISIT for i in range(dates)), sar_time, sar_units,
                       parcels_frame(ids, kinds, grid))


def _write_optical(folder, grid, truth, ids, layout, seed, dates, cloud):
    """Write the optical image of every date; return their paths."""
    parcels = ids.max()
    # A parcel's brightness is its own (soil, density) on every date and in every band, plus a little per band.
    brightness = layout.normal(0, 0.05, (parcels, 1)) + layout.normal(0, 0.02, (parcels, len(OPTICAL_BANDS)))
    paths = []
    for index in range(dates):
        when = START + index * REVISIT
        rng = np.random.default_rng([seed, _OPTICAL, index])
        image = optical_image(truth, ids, brightness, _season(index, dates), rng, cloud)
        paths.append(save_stack(image, grid.profile(bands=OPTICAL_BANDS, time=when), folder / f"s2_{when:%Y%m%d}.tif"))
    return paths


def _write_sar(folder, grid, truth, ids, seed, sar_units, sar_grid):
    """Write the radar image; return its path and time."""
    when = START + SAR_DELAY
    image, image_grid = sar_image(truth, ids, grid, sar_grid, np.random.default_rng([seed, _SAR]))
    if sar_units == "dB":
        image = (10 * np.log10(image)).astype(np.float32)
    path = save_stack(image, image_grid.profile(bands=SAR_BANDS, time=when), folder / f"s1_{when:%Y%m%d}.tif",
                      dtype="float32")
    with rasterio.open(path, "r+") as dataset:
        dataset.update_tags(UNITS=sar_units)
    return path, when


def parcel_raster(size, rng):
    """Parcel ids (1..n, int32) of the pixels: Voronoi cells of jittered grid seeds."""
    centres = np.arange(PARCEL_SPACING / 2, size, PARCEL_SPACING)
    seeds = np.stack(np.meshgrid(centres, centres), -1).reshape(-1, 2)
    seeds += rng.uniform(-0.35, 0.35, seeds.shape) * PARCEL_SPACING
    rows, cols = np.mgrid[:size, :size] + 0.5
    _, nearest = cKDTree(seeds).query(np.column_stack([rows.ravel(), cols.ravel()]))
    return (nearest.reshape(size, size) + 1).astype(np.int32)


def parcels_frame(ids, kinds, grid):
    """The parcels' polygons (traced from the parcel raster) with their id and class name."""
    pieces = list(shapes(ids, transform=grid.transform))
    traced = gpd.GeoDataFrame({"parcel": [int(v) for _, v in pieces]},
                              geometry=[shape(g) for g, _ in pieces], crs=grid.crs)
    # A cell touching its neighbours only at a corner traces as several pieces: one row per parcel.
    parcels = traced.dissolve(by="parcel", as_index=False)
    parcels["class"] = [CLASSES[kinds[p - 1]] for p in parcels["parcel"]]
    return parcels[["parcel", "class", "geometry"]]


def optical_image(truth, ids, brightness, season, rng, cloud):
    """Reflectance x 10000 (float, NaN = no data) of one date, bands first."""
    spectra = np.stack([_spectrum(name, season) for name in CLASSES])
    mean = spectra[truth] * (1 + brightness[ids - 1])
    image = (mean * (1 + rng.normal(0, 0.03, mean.shape))).transpose(2, 0, 1)
    if cloud:
        side = truth.shape[0] // 6
        row, col = rng.integers(0, truth.shape[0] - side, 2)
        image[:, row:row + side, col:col + side] = np.nan
    return np.clip(image, 1, 10000).astype(np.float32)


def sar_image(truth, ids, grid, sar_grid, rng):
    """Speckled linear sigma nought (VV, VH; float32) and the grid it lies on."""
    offsets = rng.normal(0, 0.7, (ids.max(), 2))
    mean = 10 ** ((_BACKSCATTER_DB[truth] + offsets[ids - 1]) / 10)
    if sar_grid == "coarser":
        rows, cols = truth.shape
        # A 20 m resolution cell sees the average backscatter of the four 10 m pixels it covers.
        mean = mean.reshape(rows // 2, 2, cols // 2, 2, 2).mean(axis=(1, 3))
        t = grid.transform
        grid = Grid(grid.crs, Affine(2 * t.a, 0, t.c, 0, 2 * t.e, t.f), cols // 2, rows // 2)
    image = mean * rng.gamma(LOOKS, 1 / LOOKS, mean.shape)
    return image.transpose(2, 0, 1).astype(np.float32), grid


def sample_points(scene, n_per_class, seed=0):
    """``n_per_class`` random labelled points per class at pixel centres inside the parcels.

    Returns a GeoDataFrame with columns ``class``, ``parcel`` and ``geometry`` (in the
    scene's CRS), classes in :data:`CLASSES` order.
    """
    grid = scene.grid
    ids = rasterize(zip(scene.parcels.geometry, scene.parcels["parcel"]), out_shape=(grid.height, grid.width),
                    transform=grid.transform, dtype="int32")
    names = dict(zip(scene.parcels["parcel"], scene.parcels["class"]))
    labels = np.array([names.get(p, "") for p in range(ids.max() + 1)])[ids]
    rng = np.random.default_rng(seed)
    rows, cols = [], []
    for name in scene.classes:
        r, c = np.nonzero(labels == name)
        if len(r) < n_per_class:
            raise ValueError(f"class {name} has only {len(r)} pixels, fewer than {n_per_class}")
        pick = rng.choice(len(r), n_per_class, replace=False)
        rows.extend(r[pick])
        cols.extend(c[pick])
    x, y = grid.transform @ (np.array(cols) + 0.5, np.array(rows) + 0.5)
    return gpd.GeoDataFrame({"class": labels[rows, cols], "parcel": ids[rows, cols]},
                            geometry=gpd.points_from_xy(x, y), crs=grid.crs)


def _spectrum(name, season):
    """Mean reflectance x 10000 of class ``name`` at ``season`` (0 = first date, 1 = last)."""
    if name in OPTICALLY_CONFUSED:
        return _SOIL
    # The meadow greens up to mid-season; the dry grass keeps drying out.
    green = 0.85 + 0.15 * np.sin(np.pi * season) if name == "meadow" else 0.2 - 0.2 * season
    return green * _GREEN + (1 - green) * _DRY


def _season(index, dates):
    return index / (dates - 1) if dates > 1 else 0.0


def _write_truth(path, truth, grid):
    with rasterio.open(path, "w", **grid.profile(driver="GTiff", count=1, dtype="uint8", compress="deflate")) as out:
        out.write(truth, 1)
        out.update_tags(CLASSES=",".join(CLASSES))
    return path


def _check(size, dates, sar_units, sar_grid):
    if size < 2 * PARCEL_SPACING or size % 2:
        raise ValueError(f"size must be even and at least {2 * PARCEL_SPACING}")
    if dates < 1:
        raise ValueError("dates must be at least 1")
    if sar_units not in SAR_UNITS:
        raise ValueError(f"sar_units must be one of {', '.join(SAR_UNITS)}")
    if sar_grid not in SAR_GRIDS:
        raise ValueError(f"sar_grid must be one of {', '.join(SAR_GRIDS)}")
