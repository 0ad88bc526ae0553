"""The images of a SAR series: opened or calibrated, dated, checked, and read on one grid.

Images are read on the first image's grid; others are resampled by nearest neighbour, which
keeps each pixel a single speckle sample (bilinear resampling would average neighbours and
raise the ENL). A window task in another process opens the series again by path
(:func:`sources`, :func:`reopen_images`), on the same grid and the same way.
"""

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from rasterio.enums import Resampling
from rasterio.windows import Window

from ..compute import task_path
from ..errors import InputError
from ..rasters.dating import acquisition_time
from ..rasters.grid import Grid, aligned
from ..rasters.reading import band_indexes, open_raster, read_masked
from ..safe.archive import is_zip

BANDS = ("VV", "VH")
#: The ENL is estimated in up to ENL_WINDOWS x ENL_WINDOWS windows of ENL_WINDOW pixels
#: spread over each image and band.
ENL_WINDOW = 128
ENL_WINDOWS = 8
#: Linear intensities are positive, decibels mostly negative: the share of negative values in a
#: sample tells which a raster holds.
MAX_NEGATIVE_LINEAR = 0.05
MIN_NEGATIVE_DB = 0.01
UNITS_WINDOW = 32
UNITS_WINDOWS = 8


@dataclass
class Image:
    """One input: what the user called it, its time, and (once open) its view on the grid and
    the path of the raster read (a product's: its calibrated GeoTIFF)."""

    name: str
    time: datetime
    dataset: object = None
    indexes: tuple = (1, 2)
    product: object = None
    view: object = None
    path: Path = None


def _named(name, error):
    return InputError(f"{name}: {error}")


def open_images(images, stack, folder, progress, max_pixels):
    """Open every input, sort by time, calibrate products; the earliest image's grid is the reference.

    ``images`` is ``[(name, path), ...]``; datasets are entered into ``stack`` (an ExitStack).
    Inputs of more than ``max_pixels`` (width x height x bands) are refused before any work.
    Returns (images in time order, reference grid).
    """
    series = sorted((_describe(name, Path(path), stack, max_pixels) for name, path in images),
                    key=lambda image: image.time)
    for first, second in zip(series, series[1:]):
        if first.time == second.time:
            raise InputError(f"{first.name} and {second.name} have the same acquisition time")
    grid = None
    for number, image in enumerate(series):
        if image.product is not None:
            progress(number / len(series), f"calibrating {image.name}")
            image.path = calibrate_product(image.name, image.product, Path(folder) / f"sigma0-{number + 1}.tif",
                                           grid)
            image.dataset = stack.enter_context(open_raster(image.path, max_pixels=max_pixels))
            image.indexes = tuple(band_indexes(image.dataset, BANDS))
        if grid is None:
            grid = Grid.of(image.dataset)
        _on_grid(image, grid, stack)
    return series, grid


def _on_grid(image, grid, stack):
    """``image`` with its view on ``grid`` (nearest neighbour), entered into ``stack``."""
    try:
        image.view = stack.enter_context(aligned(image.dataset, grid, Resampling.nearest))
    except InputError as error:
        raise _named(image.name, error) from None
    return image


def sources(series):
    """What opens ``series`` again in another process: ``(name, absolute path, band indexes)``
    of each image, in time order."""
    return tuple((image.name, task_path(image.path), tuple(image.indexes)) for image in series)


def reopen_images(sources, grid, stack, max_pixels):
    """The images of ``sources`` (from :func:`sources`) opened again on ``grid`` as
    :func:`open_images` left them (without their times), entered into ``stack``."""
    return [_on_grid(Image(name, None, stack.enter_context(open_raster(path, max_pixels=max_pixels)), indexes,
                           path=Path(path)), grid, stack)
            for name, path, indexes in sources]


def _describe(name, path, stack, max_pixels):
    """An Image for a GeoTIFF (opened, bands found, dated) or a zipped product (dated, not yet calibrated)."""
    if is_zip(path):
        product = _read_product(name, path, max_pixels)
        return Image(name, product.start_time, product=product)
    try:
        dataset = stack.enter_context(open_raster(path, max_pixels=max_pixels))
        indexes = tuple(band_indexes(dataset, BANDS))
    except InputError as error:
        raise _named(name, error) from None
    # TIFFTAG_DATETIME is passed over: SAR exports record there when the file was made.
    when = acquisition_time(dataset, name, tiff_datetime=False)
    if when is None:
        raise _named(name, "no acquisition time (ACQUISITION_DATE tag or a Sentinel-1 file name)")
    return Image(name, when, dataset, indexes, path=path)


def _read_product(name, path, max_pixels):
    """A zipped Sentinel-1 product's metadata (its reader is imported here, where it is needed)."""
    from ..safe.sentinel1 import read_product

    try:
        product = read_product(path, max_pixels=max_pixels)
    except InputError as error:
        raise _named(name, error) from None
    if not set(BANDS) <= set(product.polarisations):
        raise _named(name, f"the product has {', '.join(product.polarisations)}; VV and VH are needed")
    return product


def calibrate_product(name, product, destination, grid):
    """A Sentinel-1 GRD product as linear sigma0 (VV, VH) on ``grid`` (its own when None)."""
    from ..conversion.grd2tiff import calibrate

    target = None if grid is None else (grid.crs, grid.transform, grid.width, grid.height)
    try:
        return Path(calibrate(product, destination, grid=target)["path"])
    except InputError as error:
        raise _named(name, error) from None


def check_units(images, grid, units):
    """Refuse decibels given as linear values and linear values given as decibels."""
    for image in images:
        values = np.concatenate([values[:, valid] for values, valid in (
            read_masked(image.view, list(image.indexes), window)
            for window in sample_windows(grid, UNITS_WINDOW, UNITS_WINDOWS))], axis=None)
        if values.size == 0:
            continue
        negative = float((values < 0).mean())
        if units == "linear" and negative > MAX_NEGATIVE_LINEAR:
            raise _named(image.name, f"{negative:.0%} of the values are negative: decibels? Linear sigma0 "
                         "is positive; give units=dB for decibels")
        if units == "dB" and negative < MIN_NEGATIVE_DB:
            raise _named(image.name, "almost no value is negative, as in linear sigma0 but not in "
                         "decibels; give units=linear")


def sample_windows(grid, size, count):
    """Up to count x count windows of size x size pixels spread evenly over ``grid``.

    A few small windows read a few tiles: a decimated read of a whole image would decompress
    nearly every tile.
    """
    size = min(size, grid.width, grid.height)
    cols = np.linspace(0, grid.width - size, min(count, max(1, grid.width // size))).astype(int)
    rows = np.linspace(0, grid.height - size, min(count, max(1, grid.height // size))).astype(int)
    return [Window(int(col), int(row), size, size) for row in rows for col in cols]


def read_intensity(image, window, units):
    """Linear intensities (2, rows, cols) of ``image`` in ``window``, and where they are valid."""
    values, valid = read_masked(image.view, list(image.indexes), window)
    if units == "dB":
        values = np.power(np.float32(10), values / np.float32(10))
    valid &= (values > 0).all(axis=0)
    return values, valid


def enl_samples(images, grid, units):
    """Windows spread evenly over the grid, each image and band, NaN where invalid."""
    for image in images:
        for window in sample_windows(grid, ENL_WINDOW, ENL_WINDOWS):
            values, valid = read_intensity(image, window, units)
            for band in values:
                yield np.where(valid, band, np.nan)
