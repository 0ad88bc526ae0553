"""Synthetic test images: optical 4-band scenes for ChangeDetect, speckled VV+VH series for SAR."""

from datetime import datetime, timezone

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.transform import from_origin
from scipy.ndimage import gaussian_filter

from candela.rasters.dating import ACQUISITION_TAG, format_time

# Optical

BANDS = ("B02", "B03", "B04", "B08")
UTM = CRS.from_epsg(32631)


def landscape(shape=(160, 192), seed=0):
    """A textured 4-band scene (fields and structures at several scales), reflectance x 10000."""
    rng = np.random.default_rng(seed)
    fields = sum(gaussian_filter(rng.normal(size=shape), sigma) * sigma for sigma in (1.5, 4, 12))
    classes = np.digitize(fields, np.quantile(fields, [0.3, 0.6, 0.85]))
    spectra = np.array([[600, 800, 500, 3500], [900, 1100, 1200, 2500], [1400, 1500, 1700, 2200],
                        [400, 500, 400, 300]], dtype=np.float32)
    image = spectra[classes].transpose(2, 0, 1) * (1 + 0.05 * fields / fields.std())
    return image.astype(np.float32)


def second_date(image, seed=1, gain=1.15, offset=80.0, noise=20.0):
    """The same scene another day: other illumination (gain, offset) and sensor noise."""
    rng = np.random.default_rng(seed)
    return (image * gain + offset + rng.normal(scale=noise, size=image.shape)).astype(np.float32)


def paste(image, rows, cols, spectrum=(3500, 3300, 3100, 1500)):
    """A new building: a patch of another spectrum."""
    changed = image.copy()
    changed[:, rows, cols] = np.array(spectrum, dtype=np.float32)[:, None, None]
    return changed


def write_optical(path, image, transform=from_origin(500000, 5000000, 10, 10), crs=UTM, descriptions=BANDS,
                  nodata=None):
    """A float32 GeoTIFF of ``image`` (bands, rows, cols) with band names (default :data:`BANDS`)."""
    profile = dict(driver="GTiff", width=image.shape[2], height=image.shape[1], count=image.shape[0],
                   dtype="float32", crs=crs, transform=transform, nodata=nodata)
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(image)
        for index, name in enumerate(descriptions or (), start=1):
            dataset.set_band_description(index, name)
    return path


# SAR

#: Looks of the simulated speckle: the ENL of Sentinel-1 IW GRDH products.
LOOKS = 4.4
#: Acquisition time of the first image of a simulated series.
START = datetime(2023, 1, 1, 5, 43, tzinfo=timezone.utc)
SAR_TRANSFORM = Affine(10, 0, 500000, 0, -10, 5000000)


def speckle(rng, mean, looks=LOOKS):
    """Linear intensities of mean ``mean`` (array) with ``looks``-look gamma speckle."""
    mean = np.asarray(mean, dtype=np.float64)
    return mean * rng.gamma(looks, 1 / looks, mean.shape)


def sar_scene(rng, k, shape=(200, 260), change_at=2, factor=10.0):
    """k dates of VV, VH speckle; the top-left 60 x 80 pixels change by ``factor`` from image ``change_at``."""
    means = np.empty((k, 2) + shape)
    means[:, 0], means[:, 1] = 0.1, 0.02
    means[change_at - 1:, :, :60, :80] *= factor
    return speckle(rng, means).astype(np.float32)


def write_sar(path, values, when=None, descriptions=("VV", "VH"), transform=SAR_TRANSFORM, crs="EPSG:32631"):
    """A float32 GeoTIFF of ``values`` (bands, rows, cols) with band names and ACQUISITION_DATE."""
    values = np.asarray(values, dtype=np.float32)
    profile = dict(driver="GTiff", width=values.shape[2], height=values.shape[1], count=values.shape[0],
                   dtype="float32", crs=crs, transform=transform, nodata=np.nan, tiled=True,
                   blockxsize=128, blockysize=128)
    with rasterio.open(path, "w", **profile) as out:
        out.write(values)
        if descriptions:
            out.descriptions = descriptions
        if when:
            out.update_tags(ACQUISITION_DATE=format_time(when))
    return path


# Tiny dated rasters (ExtractInfo)

PARIS = "EPSG:32631"  # UTM 31N


def write_tif(path, crs=PARIS, west=440000.0, north=5410000.0, size=(20, 20), pixel=100.0, when=None, **tags):
    """A tiny GeoTIFF: ``size`` (width, height) pixels of ``pixel`` units from (west, north)."""
    width, height = size
    if when is not None:
        tags[ACQUISITION_TAG] = format_time(when)
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=1, dtype="uint8",
                       crs=crs, transform=Affine(pixel, 0, west, 0, -pixel, north)) as dataset:
        dataset.write(np.zeros((1, height, width), "uint8"))
        if tags:
            dataset.update_tags(**tags)
    return path


def day(n, hour=10, minute=0):
    """January ``n``th, 2020, at ``hour``:``minute`` UTC."""
    return datetime(2020, 1, 1, hour, minute, tzinfo=timezone.utc).replace(day=n)
