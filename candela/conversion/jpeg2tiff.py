"""Sentinel-2 JPEG 2000 bands to one Cloud Optimized GeoTIFF of surface reflectance.

The output holds reflectance x 10000 as uint16 with the product's radiometric offset
applied, so products of every processing baseline compare directly; 0 is no data. Bands
are read a strip of rows at a time into a temporary uncompressed GeoTIFF beside the
destination, which gets overviews and is then copied by GDAL's COG driver (which streams,
compressing on every core), so memory stays bounded at any tile size.

The strips are read on an engine (:mod:`candela.compute`): here, one after the other, from
the band files opened once (the default), or as tasks on a Dask cluster, each of which
re-opens the band files by path (:class:`~candela.conversion.bandfiles.StripTask`); the same
functions (:mod:`candela.conversion.bandfiles`) read every strip either way, and the strips
are written here, in order.
"""

import functools
import math
import os
import re
import tempfile
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path

import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.windows import Window

from ..compute import SerialEngine
from ..errors import InputError
from ..rasters import dating
from ..rasters.geotiff import BLOCKSIZE, overview_factors, write_cog
from ..rasters.reading import MAX_PIXELS, check_pixels
from ..safe.sentinel2 import band_name, check_resolution
from .bandfiles import (NODATA, SCL, StripTask, close_sources, gdal_env, open_sources, read_strip,
                        strip_by_path)

DEFAULT_BANDS = ("B02", "B03", "B04", "B08")
#: Output rows per strip: real 10 m JP2 bands are tiled 1024 x 1024, so each tile is decoded once.
STRIP_ROWS = 1024
#: A tile id fit for a file name (ASCII only: ``\d`` alone would take any Unicode digit).
_TILE_NAME = re.compile(r"T?([0-9]{2}[A-Z]{3})")
#: The output's name when the product's tile or date cannot be vouched for.
FALLBACK_NAME = "image.tif"


def convert(product, destination, bands=DEFAULT_BANDS, resolution=10, aoi=None, mask_clouds=False,
            progress=None, max_pixels=MAX_PIXELS, engine=None):
    """Write ``bands`` of ``product`` at ``resolution`` metres as a COG at ``destination``.

    Parameters
    ----------
    product : candela.safe.sentinel2.Product
        A product from :func:`candela.safe.sentinel2.read_product`.
    destination : str or Path
        The GeoTIFF to write (replaced if it exists).
    bands : sequence of str
        Band names (``B01``-``B12``, ``B8A``, and ``SCL`` for Level-2A), in output order.
    resolution : int
        10, 20 or 60. Reflectance is resampled bilinearly (upsampled next to no data, the
        nearest pixel instead), SCL by nearest neighbour.
    aoi : candela.rasters.aoi.AOI, optional
        Crop to this rectangle, snapped outward to the output grid.
    mask_clouds : bool
        Level-2A only: set every band to 0 where SCL is no data, cloud shadow, cloud or cirrus.
    progress : callable, optional
        Called as ``progress(fraction, message)`` about a dozen times, from 0 to 1.
    max_pixels : int
        The bands read at ``resolution``, and each band file, may have at most this many
        pixels (width x height x bands); checked before any work.
    engine : candela.compute.Engine, optional
        Where the strips are read (default: here, one after the other,
        :class:`~candela.compute.SerialEngine`). A remote engine
        (:class:`~candela.compute.DaskEngine`) reads each strip of every band as a task that
        re-opens the product's band files by path, so its workers must read the same paths
        (a shared file system). The band files are checked here first either way, and the
        strips are written here, in order; ``progress`` moves on with the finished strips.

    Returns
    -------
    dict
        path, width, height, crs, transform (affine coefficients a-f), bounds, resolution,
        bands, nodata and tags of the written file.

    Raises
    ------
    InputError
        If a band, the resolution, the AOI or a band file cannot be used; nothing is
        written then.
    """
    report = progress or (lambda fraction, message: None)
    bands = check_bands(bands, product.level)
    resolution = check_resolution(resolution)
    if mask_clouds and product.level != "L2A":
        raise InputError("clouds can only be masked in Level-2A products (Level-1C has no scene classification)")
    window = output_window(product, resolution, aoi)
    destination = Path(destination)
    height, width = int(window.height), int(window.width)
    transform = product.transform(resolution) @ Affine.translation(window.col_off, window.row_off)
    tags = product_tags(product)
    needed = bands + ((SCL,) if mask_clouds and SCL not in bands else ())
    check_pixels(width, height, len(needed), max_pixels, what=f"the product at {resolution} m")
    with gdal_env(len(needed)):
        sources = open_sources(product, needed, resolution, max_pixels)
        temporary = None
        try:
            report(0.0, f"reading {len(bands)} band(s) into {width} x {height} pixels at {resolution} m")
            descriptor, temporary = tempfile.mkstemp(suffix=".tif", prefix=f".{destination.stem}-",
                                                     dir=destination.parent)
            os.close(descriptor)
            profile = dict(
                driver="GTiff", width=width, height=height, count=len(bands), dtype="uint16",
                crs=product.crs, transform=transform, nodata=NODATA, tiled=True,
                blockxsize=BLOCKSIZE, blockysize=BLOCKSIZE, interleave="band",
            )
            with rasterio.open(temporary, "w", **profile) as out:
                out.descriptions = bands
                out.update_tags(**tags)
                engine = engine or SerialEngine()
                if engine.remote:
                    task = StripTask.of(product, bands, needed, resolution, mask_clouds, max_pixels)
                    compute = functools.partial(strip_by_path, task)
                else:
                    compute = functools.partial(read_strip, sources, bands, product, mask_clouds)
                write_strips(out, window, engine, compute, lambda done: report(0.75 * done, "reading bands"))
                report(0.75, "computing overviews")
                # Built here, in the uncompressed file, rather than by the COG driver, which
                # would compress them twice (5 s more on a full tile). One resampling
                # serves every band: averaging SCL classes would invent classes.
                out.build_overviews(overview_factors(width, height),
                                    Resampling.nearest if SCL in bands else Resampling.average)
            report(0.8, "writing the Cloud Optimized GeoTIFF")
            write_cog(temporary, destination)
        finally:
            close_sources(sources)
            if temporary is not None:
                Path(temporary).unlink(missing_ok=True)
    report(1.0, "done")
    west, north = transform @ (0, 0)
    east, south = transform @ (width, height)
    return {
        "path": str(destination),
        "width": width,
        "height": height,
        "crs": product.crs.to_string(),
        "transform": tuple(transform)[:6],
        "bounds": (west, south, east, north),
        "resolution": resolution,
        "bands": list(bands),
        "nodata": NODATA,
        "tags": tags,
    }


def output_name(product, resolution):
    """A file name for ``product``'s GeoTIFF at ``resolution`` m, e.g. ``S2_T31UDQ_20170812_10m.tif``.

    Built by us from the tile id checked against a strict pattern and the parsed sensing
    date, never from the product's own text (its PRODUCT_URI could be ``../../x``): a name
    from metadata that do not validate is :data:`FALLBACK_NAME`.
    """
    resolution = check_resolution(resolution)
    tile = _TILE_NAME.fullmatch(str(product.tile_id))
    when = product.sensing_time
    if tile is None or not isinstance(when, datetime):
        return FALLBACK_NAME
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc)
    return f"S2_T{tile.group(1)}_{when:%Y%m%d}_{resolution}m.tif"


def check_bands(bands, level=None):
    """Band names (a list or a comma-separated text) as a tuple of canonical names, or raise InputError."""
    if isinstance(bands, str):
        bands = bands.split(",")
    names = []
    for band in bands:
        name = band_name(band, level)
        if name in names:
            raise InputError(f"band {name} is asked for twice")
        names.append(name)
    if not names:
        raise InputError("no band asked for")
    return tuple(names)


def output_window(product, resolution, aoi=None):
    """Window of the tile's grid at ``resolution`` to write: all of it, or the AOI snapped outward."""
    height, width = product.shape(resolution)
    if aoi is None:
        return Window(0, 0, width, height)
    try:
        left, bottom, right, top = aoi.bounds_in(product.crs)
    except (RasterioError, ValueError):
        raise InputError("the area of interest cannot be expressed in the tile's coordinate system") from None
    if not all(math.isfinite(v) for v in (left, bottom, right, top)):
        raise InputError(f"the area of interest does not intersect tile {product.tile_id}")
    inverse = ~product.transform(resolution)
    cols, rows = zip(*(inverse @ corner for corner in ((left, top), (right, bottom))))
    # A tolerance, so bounds on a pixel edge do not gain a pixel from rounding errors.
    col0 = max(0, math.floor(min(cols) + 1e-6))
    col1 = min(width, math.ceil(max(cols) - 1e-6))
    row0 = max(0, math.floor(min(rows) + 1e-6))
    row1 = min(height, math.ceil(max(rows) - 1e-6))
    if col1 <= col0 or row1 <= row0:
        raise InputError(f"the area of interest does not intersect tile {product.tile_id}")
    return Window(col0, row0, col1 - col0, row1 - row0)


def product_tags(product):
    """Dataset tags describing the product, ``ACQUISITION_DATE`` included."""
    return {
        "PRODUCT_ID": product.product_id,
        "TILE_ID": product.tile_id,
        "SPACECRAFT": product.spacecraft,
        "SENSING_TIME": dating.format_time(product.sensing_time),
        "PROCESSING_BASELINE": product.processing_baseline,
        "PROCESSING_LEVEL": product.level,
        "CLOUD_COVER": str(product.cloud_cover),
        dating.ACQUISITION_TAG: dating.format_time(product.sensing_time),
    }


def strips(window):
    """The strips of ``window`` (windows of the tile's grid at the output resolution), top to bottom."""
    # Strips start on multiples of STRIP_ROWS in the tile's grid, so they follow the JP2 tiles.
    first = int(window.row_off)
    stop = first + int(window.height)
    starts = [first] + list(range((first // STRIP_ROWS + 1) * STRIP_ROWS, stop, STRIP_ROWS))
    return [Window(window.col_off, start, window.width, min(stop, (start // STRIP_ROWS + 1) * STRIP_ROWS) - start)
            for start in starts]


def write_strips(out, window, engine, compute, progress):
    """Write into ``out`` the bands of each strip of ``window``, read by ``compute(strip)`` on
    ``engine``, in order; ``progress(fraction)`` as strips finish, every ~10 % (so after
    every strip when there are ten or fewer)."""
    blocks = strips(window)
    reported = 0.0
    with closing(engine.map(compute, blocks)) as results:  # closing: a remote engine cancels the rest
        for number, (strip, bands) in enumerate(zip(blocks, results), 1):
            target = Window(0, strip.row_off - window.row_off, strip.width, strip.height)
            for index, data in enumerate(bands, 1):
                out.write(data, index, window=target)
            if number / len(blocks) - reported >= 0.1 or number == len(blocks):
                reported = number / len(blocks)
                progress(reported)
