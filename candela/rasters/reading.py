"""Reading rasters: opened with checks, bands found by name, windows read with their validity."""

import numpy as np
import rasterio
from affine import Affine
from rasterio.errors import RasterioError
from rasterio.windows import Window

from ..errors import InputError

#: Most pixels (width x height x bands) an input raster may have, by default: a 13-band
#: 10980 x 10980 Sentinel-2 tile has 1.57e9. Work grows with pixels, not with file size: a
#: sparse or constant GeoTIFF of 1e10 pixels can take a few hundred kilobytes.
MAX_PIXELS = 2_000_000_000


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
