"""Sentinel-1 GRD products to geocoded sigma nought GeoTIFFs.

Sigma nought is computed in sensor geometry (:mod:`candela.conversion.calibration`), then
warped onto an output grid through the geolocation grid (:mod:`candela.conversion.geocoding`).
"""

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning
from rasterio.windows import Window
from shapely.geometry import box

from ..errors import InputError
from ..rasters import dating
from ..rasters.env import gdal_threads
from ..rasters.geotiff import float_profile
from ..safe.sentinel1 import footprint, grid_gcps, open_measurement
from .calibration import multilook, read_sigma0
from .geocoding import BLOCKSIZE, check_grid, grid_for, pixel_metres, projected, sensor_window, warp

#: Sensor-geometry pixels calibrated at once (a strip of whole lines): with the DN and three
#: float32 arrays of it alive, about 120 MB.
STRIP_PIXELS = 1 << 23
#: GDAL block cache, in bytes: a full-width strip of a tiled measurement, decoded once.
CACHE_BYTES = 256 * 2**20


def calibrate(product, destination, *, crs=None, resolution=10.0, grid=None, progress=None):
    """Write the product's linear sigma nought, geocoded, as a float32 GeoTIFF.

    Parameters
    ----------
    product : S1Product
        From :func:`~candela.safe.sentinel1.read_product` (with its measurement rasters).
    destination : str or Path
        The GeoTIFF to write (replaced): tiled, DEFLATE, one band per polarisation in the
        order VV, VH, named by their descriptions, no data NaN, tag ``ACQUISITION_DATE`` =
        the product's start time.
    crs, resolution
        Without ``grid``: the output covers the product's footprint in ``crs`` (default its
        UTM zone) at ``resolution`` metres.
    grid : tuple, optional
        ``(crs, transform, width, height)`` of the output, so that a stack of products lands
        on one common grid (see :func:`~candela.conversion.geocoding.grid_for`). The product
        must overlap it.
    progress : callable, optional
        Called as ``progress(fraction, message)``, from 0 to 1.

    Sigma nought is computed in sensor geometry a strip of lines at a time; for outputs
    coarser than twice the pixel spacing it is averaged over ``n`` x ``n`` pixels first
    (multilooking, in linear power, NaN ignored), with ``n`` half the ratio of resolutions.
    Only the part of the image that the grid sees is calibrated. The result goes to a
    temporary uncompressed GeoTIFF beside ``destination`` carrying the geolocation grid as
    GCPs (about 1.75 GB per polarisation for a whole IW scene at 10 m), which GDAL then
    warps (thin plate spline through the GCPs; bilinear, or average when the output is
    coarser than two looks) window by window. Bilinear warping drops output pixels next to
    no data (within one source pixel: see :func:`_write_sensor_geometry`).

    Returns
    -------
    dict
        path, crs, transform (affine coefficients a-f), width, height, bounds, resolution,
        polarisations and acquisition_time (ISO text) of the written file.
    """
    report = progress or (lambda fraction, message: None)
    destination = Path(destination)
    measurements = [product.measurement(p) for p in product.polarisations]
    for measurement in measurements:
        if measurement.path is None:
            raise InputError(
                f"the {measurement.polarisation} measurement raster is missing from the product")
    area = footprint(product)
    grid = check_grid(grid_for(area, crs, resolution) if grid is None else grid)
    outline = projected(area, grid.crs)
    covered = outline.intersection(box(*grid.bounds))
    if covered.is_empty or covered.area == 0:
        raise InputError("the product does not overlap the output grid")
    spacing = min(measurements[0].pixel_spacing)
    metres = pixel_metres(grid.crs, grid.transform, area.centroid)
    looks = max(1, int(metres / spacing / 2))
    window = sensor_window(measurements[0], covered, grid.crs, margin=int(2 * metres / spacing) + looks)
    resampling = Resampling.average if metres >= 2 * spacing else Resampling.bilinear
    tags = {dating.ACQUISITION_TAG: dating.format_time(product.start_time)}
    threads = gdal_threads()
    with rasterio.Env(GDAL_CACHEMAX=CACHE_BYTES, GDAL_NUM_THREADS=threads):
        descriptor, temporary = tempfile.mkstemp(suffix=".tif", prefix=f".{destination.stem}-",
                                                 dir=destination.parent)
        os.close(descriptor)
        try:
            _write_sensor_geometry(temporary, measurements, window, looks, grid.crs,
                                   resampling == Resampling.average,
                                   lambda done: report(0.7 * done, "calibrating to sigma nought"))
            report(0.7, "geocoding")
            profile = float_profile(grid, count=len(measurements), blocksize=BLOCKSIZE,
                                            interleave="band", NUM_THREADS=threads)
            with rasterio.open(temporary) as source, rasterio.open(destination, "w", **profile) as out:
                out.descriptions = tuple(m.polarisation for m in measurements)
                out.update_tags(**tags)
                warp(source, out, outline, resampling, threads,
                      lambda done: report(0.7 + 0.3 * done, "geocoding"))
        except BaseException:
            destination.unlink(missing_ok=True)  # no half-written output
            raise
        finally:
            Path(temporary).unlink(missing_ok=True)
    report(1.0, "done")
    return {
        "path": str(destination),
        "crs": grid.crs.to_string(),
        "transform": tuple(grid.transform)[:6],
        "width": grid.width,
        "height": grid.height,
        "bounds": grid.bounds,
        "resolution": (abs(grid.transform.a), abs(grid.transform.e)),
        "polarisations": [m.polarisation for m in measurements],
        "acquisition_time": tags[dating.ACQUISITION_TAG],
    }


def _write_sensor_geometry(path, measurements, window, looks, crs, tag_nodata, report):
    """Sigma nought over ``window`` of every polarisation, multilooked, with GCPs in ``crs``.

    NaN marks no data; with ``tag_nodata`` false, the file does not say so: GDAL then warps
    bilinearly twice as fast (no validity masks), an output pixel whose source neighbours
    include no data becoming NaN (the valid area shrinks by up to one source pixel).
    """
    first = measurements[0]
    for measurement in measurements[1:]:
        if (measurement.width, measurement.height) != (first.width, first.height):
            raise InputError("the product's polarisations have different image sizes")
    row0, col0, width, height = window.row_off, window.col_off, window.width, window.height
    profile = dict(
        driver="GTiff", width=-(-width // looks), height=-(-height // looks), count=len(measurements),
        dtype="float32", nodata=np.nan if tag_nodata else None, tiled=True, blockxsize=BLOCKSIZE,
        blockysize=BLOCKSIZE, interleave="band", BIGTIFF="YES",
    )
    strip = max(looks, (STRIP_PIXELS // width) // looks * looks)
    datasets = [open_measurement(m) for m in measurements]
    try:
        with warnings.catch_warnings():
            # Georeferenced by the GCPs set just after opening.
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            out = rasterio.open(path, "w", **profile)
        with out:
            out.gcps = (grid_gcps(first.grid, crs, looks, offset=(row0, col0)), crs)
            for row in range(0, height, strip):
                lines = min(strip, height - row)
                for band, (measurement, dataset) in enumerate(zip(measurements, datasets), start=1):
                    values = read_sigma0(measurement, dataset, Window(col0, row0 + row, width, lines))
                    values = multilook(values, looks)
                    out.write(values, band, window=Window(0, row // looks, values.shape[1], values.shape[0]))
                report((row + lines) / height)
    finally:
        for dataset in datasets:
            dataset.close()
