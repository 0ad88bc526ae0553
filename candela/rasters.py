"""Raster plumbing shared by the change detectors: grids, band matching, windows, outputs.

A :class:`Grid` is where pixels live (CRS, transform, size). Inputs on another grid are
read through :func:`aligned`, which resamples them onto the reference grid on the fly, so
every detector reads all its inputs window by window on one grid with bounded memory.
"""

import math
import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from . import dating
from .errors import InputError

#: Most pixels (width x height x bands) an input raster may have, by default: a 13-band
#: 10980 x 10980 Sentinel-2 tile has 1.57e9. Work grows with pixels, not with file size: a
#: sparse or constant GeoTIFF of 1e10 pixels can take a few hundred kilobytes.
MAX_PIXELS = 2_000_000_000


@dataclass(frozen=True)
class Grid:
    """A raster grid: CRS, affine transform, width and height."""

    crs: CRS
    transform: Affine
    width: int
    height: int

    @classmethod
    def of(cls, dataset):
        """The grid of an open rasterio dataset."""
        return cls(dataset.crs, dataset.transform, dataset.width, dataset.height)

    @property
    def bounds(self):
        """(left, bottom, right, top) in the grid's CRS."""
        left, top = self.transform @ (0, 0)
        right, bottom = self.transform @ (self.width, self.height)
        return min(left, right), min(bottom, top), max(left, right), max(bottom, top)

    def same_as(self, other, tolerance=1e-6):
        """Whether ``other`` has the same CRS, size and (to ``tolerance`` pixels) transform."""
        if (self.width, self.height) != (other.width, other.height):
            return False
        if self.crs != other.crs:
            return False
        pixel = max(abs(self.transform.a), abs(self.transform.e))
        return all(
            abs(a - b) <= tolerance * (pixel if i in (2, 5) else 1)
            for i, (a, b) in enumerate(zip(self.transform[:6], other.transform[:6]))
        )

    def profile(self, **options):
        """A rasterio profile for writing on this grid."""
        return dict(crs=self.crs, transform=self.transform, width=self.width, height=self.height, **options)


def gdal_threads():
    """Threads GDAL may use: ``$CANDELA_THREADS``, else all CPUs.

    Once GDAL's thread pool has run in a process, processes forked from it deadlock in GDAL:
    a program that forks after converting (a test suite serving WPS in-process) sets 1.
    """
    return os.environ.get("CANDELA_THREADS") or "ALL_CPUS"


def check_pixels(width, height, bands, max_pixels, what="the raster"):
    """Refuse a raster of more than ``max_pixels`` pixels (width x height x bands): checked
    before any work is spent on an input, since reading or writing it costs in proportion."""
    pixels = width * height * bands
    if pixels > max_pixels:
        raise InputError(f"{what} is {width} x {height} pixels x {bands} band(s), {pixels:,} in all: "
                         f"more than the {max_pixels:,} allowed")


def open_raster(path, *, max_pixels):
    """Open a raster for reading; an unreadable, ungeoreferenced or too large file is an InputError."""
    try:
        dataset = rasterio.open(path)
    except RasterioError:
        raise InputError("not a readable raster (GeoTIFF expected)") from None
    try:
        if dataset.crs is None or dataset.transform == Affine.identity():
            raise InputError("the raster has no georeference (CRS and transform)")
        check_pixels(dataset.width, dataset.height, dataset.count, max_pixels)
    except InputError:
        dataset.close()
        raise
    return dataset


def band_indexes(dataset, expected):
    """1-based indexes of the bands named ``expected`` in ``dataset``.

    Bands are matched by their descriptions when the raster has them, else by count and order.
    """
    expected = tuple(expected)
    descriptions = tuple((d or "").strip().upper() for d in dataset.descriptions)
    if any(descriptions):
        missing = [name for name in expected if name.upper() not in descriptions]
        if missing:
            raise InputError(
                f"bands {', '.join(expected)} expected; the raster has {', '.join(d or '?' for d in descriptions)} "
                f"(missing {', '.join(missing)})"
            )
        return [descriptions.index(name.upper()) + 1 for name in expected]
    if dataset.count != len(expected):
        raise InputError(
            f"{len(expected)} bands expected ({', '.join(expected)}); the raster has {dataset.count} "
            "unnamed bands (name them by their descriptions, or give exactly these in this order)"
        )
    return list(range(1, len(expected) + 1))


def overlap_fraction(grid, other):
    """Fraction of ``grid``'s area covered by ``other``'s bounds (0 when disjoint)."""
    left, bottom, right, top = grid.bounds
    try:
        o_left, o_bottom, o_right, o_top = transform_bounds(other.crs, grid.crs, *other.bounds, densify_pts=21)
    except Exception:
        return 0.0
    width = min(right, o_right) - max(left, o_left)
    height = min(top, o_top) - max(bottom, o_bottom)
    if width <= 0 or height <= 0:
        return 0.0
    return (width * height) / ((right - left) * (top - bottom))


@contextmanager
def aligned(dataset, grid, resampling=Resampling.bilinear, name=None, reference="the reference raster"):
    """``dataset`` as seen on ``grid``: itself when already there, else a warped view.

    Pixels of ``grid`` outside ``dataset`` read as masked. Disjoint rasters are an InputError
    naming input ``name`` and the raster ``grid`` comes from (``reference``).
    """
    if Grid.of(dataset).same_as(grid):
        yield dataset
        return
    if overlap_fraction(grid, Grid.of(dataset)) == 0.0:
        raise InputError(f"the raster does not overlap {reference}", input=name)
    nodata = dataset.nodata
    if nodata is None:
        nodata = np.nan if np.dtype(dataset.dtypes[0]).kind == "f" else 0
    with WarpedVRT(dataset, crs=grid.crs, transform=grid.transform, width=grid.width, height=grid.height,
                   resampling=resampling, nodata=nodata) as view:
        yield view


def read_masked(dataset, indexes, window, dtype="float32"):
    """Read ``indexes`` in ``window`` as ``dtype`` with a validity mask (True = valid in every band).

    A window reaching beyond the raster's edge is padded with invalid pixels, so halos work
    at the edges (for warped views too, which cannot read boundless). Invalid pixels read 0.
    """
    col, row = int(window.col_off), int(window.row_off)
    width, height = int(window.width), int(window.height)
    values = np.zeros((len(indexes), height, width), dtype=dtype)
    valid = np.zeros((height, width), dtype=bool)
    left, top = max(col, 0), max(row, 0)
    right, bottom = min(col + width, dataset.width), min(row + height, dataset.height)
    if right > left and bottom > top:
        inner = Window(left, top, right - left, bottom - top)
        data = dataset.read(indexes, window=inner, masked=True, out_dtype=dtype)
        rows = slice(top - row, bottom - row)
        cols = slice(left - col, right - col)
        values[:, rows, cols] = np.ma.getdata(data)
        valid[rows, cols] = ~np.ma.getmaskarray(data).any(axis=0)
    valid &= np.isfinite(values).all(axis=0)
    values[:, ~valid] = 0  # so that no NaN or nodata value leaks into sums
    return values, valid


def windows(width, height, size):
    """Non-overlapping ``size`` x ``size`` windows covering a raster, row by row."""
    for row in range(0, height, size):
        for col in range(0, width, size):
            yield Window(col, row, min(size, width - col), min(size, height - row))


def acquisition_time(dataset, name):
    """The acquisition time of an open raster (tag, else file name); None if unknown."""
    return dating.tag_time(dataset.tags().get(dating.ACQUISITION_TAG)) or dating.time_from_name(name)


def float_profile(grid, count=1, nodata=np.nan, blocksize=512, **options):
    """Profile of a tiled, DEFLATE-compressed float32 GeoTIFF on ``grid``."""
    return grid.profile(driver="GTiff", dtype="float32", count=count, nodata=nodata, tiled=True,
                        blockxsize=blocksize, blockysize=blocksize, compress="deflate", predictor=3,
                        BIGTIFF="IF_SAFER", **options)


#: Longer side of a quicklook, in pixels.
QUICKLOOK_SIZE = 1024
#: A perceptually ordered colour ramp for quicklooks of values in [0, 1] (viridis, 9 stops).
_RAMP = np.array([
    (68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141),
    (39, 173, 129), (92, 200, 99), (170, 220, 50), (253, 231, 37),
], dtype=np.float64)


def colourise(values):
    """RGBA uint8 image of ``values`` in [0, 1] on a viridis ramp; NaN is transparent."""
    values = np.asarray(values, dtype=np.float64)
    valid = np.isfinite(values)
    position = np.clip(np.where(valid, values, 0.0), 0.0, 1.0) * (len(_RAMP) - 1)
    lower = np.floor(position).astype(int)
    upper = np.minimum(lower + 1, len(_RAMP) - 1)
    weight = (position - lower)[..., None]
    rgb = _RAMP[lower] * (1 - weight) + _RAMP[upper] * weight
    rgba = np.empty(values.shape + (4,), dtype=np.uint8)
    rgba[..., :3] = np.round(rgb).astype(np.uint8)
    rgba[..., 3] = np.where(valid, 255, 0)
    return rgba


def write_png(values, destination):
    """Write ``values`` in [0, 1] (NaN: transparent) as a colour PNG at ``destination``."""
    rgba = colourise(values)
    height, width = rgba.shape[:2]
    with warnings.catch_warnings():  # a PNG quicklook has no georeference, by design
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(destination, "w", driver="PNG", width=width, height=height, count=4,
                           dtype="uint8") as png:
            png.write(np.moveaxis(rgba, -1, 0))
    return destination


class Preview:
    """A map averaged over f x f pixel cells while it is written, for its quicklook.

    Averaging the written map again afterwards would read and decompress all of it.
    """

    def __init__(self, grid, size=QUICKLOOK_SIZE):
        self.factor = max(1, math.ceil(max(grid.width, grid.height) / size))
        shape = (math.ceil(grid.height / self.factor), math.ceil(grid.width / self.factor))
        self.sums = np.zeros(shape)
        self.counts = np.zeros(shape)

    def add(self, values, window):
        """Add a window of the map (NaN: no data)."""
        rows = (int(window.row_off) + np.arange(values.shape[0])) // self.factor
        cols = (int(window.col_off) + np.arange(values.shape[1])) // self.factor
        width = cols[-1] - cols[0] + 1
        cells = ((rows[:, None] - rows[0]) * width + (cols[None, :] - cols[0])).ravel()
        finite = np.isfinite(values).ravel()
        size = (rows[-1] - rows[0] + 1) * width
        target = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        self.sums[target] += np.bincount(cells[finite], values.ravel()[finite], size).reshape(-1, width)
        self.counts[target] += np.bincount(cells[finite], minlength=size).reshape(-1, width)

    def write_png(self, destination):
        """The quicklook: the averaged map as a colour PNG."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return write_png(np.where(self.counts > 0, self.sums / self.counts, np.nan), destination)
