"""The images a classification reads: optical and SAR GeoTIFFs, opened, dated and seen on one grid.

Every image is read on the first optical image's grid (the reference). Others are resampled
by nearest neighbour: it invents no value, so reflectances of other dates stay measured
values, and a SAR pixel stays a single speckle sample, whose local mean and variance
(:mod:`.features`) are then honest multilook statistics (bilinear resampling would average
neighbours, lower the variance and fake a higher number of looks).
"""

from dataclasses import dataclass, field

import numpy as np
from rasterio.enums import Resampling

from ..change.sarimages import sample_windows
from ..conversion.bandfiles import CLOUD_CLASSES, SCL
from ..errors import InputError
from ..rasters.dating import acquisition_time
from ..rasters.grid import Grid, aligned
from ..rasters.reading import open_raster, read_masked

#: Sentinel-2 bands used as features, in this order, when an optical image has them.
OPTICAL_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")
SAR_BANDS = ("VV", "VH")
#: Integer optical rasters hold reflectance x 10000 (Level-2A, and Jpeg2Tiff's outputs).
REFLECTANCE_SCALE = 1e-4
#: A SAR raster whose sampled values are more than this share negative holds decibels.
NEGATIVE_DB_SHARE = 0.5


@dataclass
class Image:
    """One input image: what the user called it, its sensor, bands and time, and its view on the grid."""

    name: str
    sensor: str  # "optical" or "sar"
    bands: dict  # band name -> 1-based index in the file
    time: object = None
    units: str = "reflectance"
    scale: float = 1.0
    view: object = field(default=None, repr=False)

    def read(self, window):
        """``({band: values}, valid)`` in ``window`` (which may reach past the grid's edges):
        reflectances or linear intensities as float32; clouds (SCL) and no data invalid."""
        names = [name for name in self.bands if name != SCL]
        values, valid = read_masked(self.view, [self.bands[name] for name in names], window)
        if SCL in self.bands:
            scl, scl_valid = read_masked(self.view, [self.bands[SCL]], window, dtype="uint8")
            valid &= scl_valid & ~np.isin(scl[0], CLOUD_CLASSES)
        if self.sensor == "optical":
            values *= np.float32(self.scale)
        elif self.units == "dB":
            values = np.power(np.float32(10), values / np.float32(10))
            valid &= np.isfinite(values).all(axis=0)
        if self.sensor == "sar":
            valid &= (values > 0).all(axis=0)
        return dict(zip(names, values)), valid


def band_names(dataset):
    """Band descriptions in upper case (``B8A``, ``VV``), ``None`` for an unnamed band."""
    return [(d or "").strip().upper() or None for d in dataset.descriptions]


def open_optical(name, path, stack, max_pixels):
    """An optical image: its named Sentinel-2 bands (and SCL), dated when it can be."""
    dataset = _open(name, path, stack, max_pixels)
    names = band_names(dataset)
    bands = {band: names.index(band) + 1 for band in (*OPTICAL_BANDS, SCL) if band in names}
    if not set(bands) - {SCL}:
        raise InputError(f"{name}: no Sentinel-2 band found by description (B02, B03, B04, B08, ...); "
                         f"the raster has {_shown(names)}", "optical")
    scale = REFLECTANCE_SCALE if np.dtype(dataset.dtypes[0]).kind in "ui" else 1.0
    return Image(name, "optical", bands, acquisition_time(dataset, name), scale=scale, view=dataset)


def open_sar(name, path, stack, max_pixels):
    """A SAR image with VV and VH bands (named, else the first two bands), dated when it can be."""
    dataset = _open(name, path, stack, max_pixels, "sar")
    names = band_names(dataset)
    if set(SAR_BANDS) <= set(names):
        bands = {band: names.index(band) + 1 for band in SAR_BANDS}
    elif not any(names) and dataset.count == 2:
        bands = {"VV": 1, "VH": 2}
    else:
        raise InputError(f"{name}: bands VV and VH expected (by description, or two unnamed bands in that "
                         f"order); the raster has {_shown(names)}", "sar")
    when = acquisition_time(dataset, name, tiff_datetime=False)
    image = Image(name, "sar", bands, when, view=dataset)
    image.units = dataset.tags().get("UNITS", "").strip()
    return image


def place_on_grid(images, stack):
    """Put every image on the first one's grid (nearest neighbour); return the grid.

    An image that does not overlap the first optical image is an InputError naming it.
    """
    grid = Grid.of(images[0].view)
    for image in images:
        try:
            image.view = stack.enter_context(aligned(image.view, grid, Resampling.nearest, name=image.sensor,
                                                     reference=f"the first optical image ({images[0].name})"))
        except InputError as error:
            raise InputError(f"{image.name}: {error}", image.sensor) from None
    return grid


def settle_units(image, grid, units):
    """Decide a SAR image's units: as given, else its UNITS tag, else from its values (decibels are
    mostly negative, linear intensities never)."""
    if units in ("linear", "dB"):
        image.units = units
        return
    if image.units.lower() in ("db", "decibel", "decibels"):
        image.units = "dB"
        return
    if image.units.lower() == "linear":
        return
    samples = [values[:, valid] for values, valid in
               (read_masked(image.view, list(image.bands.values()), window) for window in sample_windows(grid, 32, 8))]
    values = np.concatenate(samples, axis=None) if samples else np.empty(0)
    image.units = "dB" if values.size and (values < 0).mean() > NEGATIVE_DB_SHARE else "linear"


def _open(name, path, stack, max_pixels, sensor="optical"):
    try:
        return stack.enter_context(open_raster(path, max_pixels=max_pixels))
    except InputError as error:
        raise InputError(f"{name}: {error}", sensor) from None


def _shown(names):
    return ", ".join(n or "?" for n in names) or "no bands"
