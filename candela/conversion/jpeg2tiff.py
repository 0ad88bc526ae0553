"""Sentinel-2 JPEG 2000 bands to one Cloud Optimized GeoTIFF of surface reflectance.

The output holds reflectance x 10000 as uint16 with the product's radiometric offset
applied, so products of every processing baseline compare directly; 0 is no data. Bands
are read a strip of rows at a time into a temporary uncompressed GeoTIFF beside the
destination, which gets overviews and is then copied by GDAL's COG driver (which streams,
compressing on every core), so memory stays bounded at any tile size.
"""

import math
import os
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.windows import Window

from ..errors import InputError
from ..rasters import dating
from ..rasters.env import gdal_threads
from ..rasters.geotiff import BLOCKSIZE, overview_factors, write_cog
from ..rasters.reading import MAX_PIXELS, check_pixels
from ..safe.sentinel2 import RESOLUTIONS, band_name, check_resolution

DEFAULT_BANDS = ("B02", "B03", "B04", "B08")
SCL = "SCL"
#: SCL classes masked by ``mask_clouds``: no data, cloud shadow, cloud medium/high probability, thin cirrus.
CLOUD_CLASSES = (0, 3, 8, 9, 10)
NODATA = 0
#: Output rows per strip: real 10 m JP2 bands are tiled 1024 x 1024, so each tile is decoded once.
STRIP_ROWS = 1024
#: GDAL block cache, in bytes (rasterio takes an int GDAL_CACHEMAX as bytes, not MB): a
#: base, and per band a strip's decoded JP2 tiles (10980 x 1024 x 2 bytes), so that tiles
#: a resampled band's strips share are decoded once. More buys nothing: it only adds RSS.
CACHE_BASE = 64 * 2**20
CACHE_PER_BAND = 32 * 2**20
#: A tile id fit for a file name (ASCII only: ``\d`` alone would take any Unicode digit).
_TILE_NAME = re.compile(r"T?([0-9]{2}[A-Z]{3})")
#: The output's name when the product's tile or date cannot be vouched for.
FALLBACK_NAME = "image.tif"


def convert(product, destination, bands=DEFAULT_BANDS, resolution=10, aoi=None, mask_clouds=False,
            progress=None, max_pixels=MAX_PIXELS):
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
    with rasterio.Env(GDAL_CACHEMAX=CACHE_BASE + CACHE_PER_BAND * len(needed), GDAL_NUM_THREADS=gdal_threads()):
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
                write_strips(out, sources, bands, product, window, resolution, mask_clouds,
                             lambda done: report(0.75 * done, "reading bands"))
                report(0.75, "computing overviews")
                # Built here, in the uncompressed file, rather than by the COG driver, which
                # would compress them twice (5 s more on a full tile). One resampling
                # serves every band: averaging SCL classes would invent classes.
                out.build_overviews(overview_factors(width, height),
                                    Resampling.nearest if SCL in bands else Resampling.average)
            report(0.8, "writing the Cloud Optimized GeoTIFF")
            write_cog(temporary, destination)
        finally:
            for source in sources.values():
                source.close()
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


class BandSource:
    """One band's JP2 file, opened for reading strips of the output grid."""

    def __init__(self, band, dataset, file_resolution, resolution):
        self.band = band
        self.dataset = dataset
        self.file_resolution = file_resolution
        self.resolution = resolution

    def read(self, window, resampling):
        """Read ``window`` of the output grid (uint16), resampling as needed."""
        if self.file_resolution == self.resolution:
            return self.dataset.read(1, window=window, out_dtype="uint16")
        if resampling == Resampling.nearest:
            return self.nearest(window)
        scale = self.file_resolution / self.resolution
        source = Window(window.col_off / scale, window.row_off / scale, window.width / scale, window.height / scale)
        data = self.dataset.read(1, window=source, out_shape=(int(window.height), int(window.width)),
                                 resampling=resampling, out_dtype="uint16")
        if self.file_resolution > self.resolution:
            # Upsampling: the kernel would mix no data (0) into its neighbours, and fill
            # no-data pixels beside valid ones. There, take the nearest pixel instead.
            nearest, touches_nodata = self.nearest(window, with_kernel=True)
            data[touches_nodata] = nearest[touches_nodata]
        # Downsampling goes through the JPEG 2000 reduced resolutions, whose pixels
        # on the edge of no data mix it in, as any GDAL reader's do.
        return data

    def nearest(self, window, with_kernel=False):
        """Nearest-neighbour resampling of ``window``, from the file's full-resolution pixels.

        Not GDAL's: downsampling, it reads JPEG 2000 reduced resolutions, which are wavelet
        averages, not samples, and invent SCL classes along class borders. With
        ``with_kernel``, also tell where the 2 x 2 pixels a bilinear kernel reads hold no data.
        """
        row_sets = self._source_pixels(window.row_off, window.height, self.dataset.height)
        col_sets = self._source_pixels(window.col_off, window.width, self.dataset.width)
        top, left = min(r.min() for r in row_sets), min(c.min() for c in col_sets)
        bottom, right = max(r.max() for r in row_sets), max(c.max() for c in col_sets)
        block = self.dataset.read(1, window=Window(left, top, right - left + 1, bottom - top + 1), out_dtype="uint16")
        rows, cols = [r - top for r in row_sets], [c - left for c in col_sets]
        nearest = block[np.ix_(rows[0], cols[0])]
        if not with_kernel:
            return nearest
        nodata = block == NODATA
        touches = np.zeros(nearest.shape, dtype=bool)
        for r in rows[1:]:
            for c in cols[1:]:
                touches |= nodata[np.ix_(r, c)]
        return nearest, touches

    def _source_pixels(self, start, count, size):
        """File pixels under the output pixels' centres, then the two a bilinear kernel reads.

        In integers (centre = (2i + 1) / 2 output pixels), so that no tie is rounded astray.
        """
        centres = (2 * np.arange(int(start), int(start) + int(count)) + 1) * self.resolution
        nearest = centres // (2 * self.file_resolution)
        before = np.clip((centres - self.file_resolution) // (2 * self.file_resolution), 0, size - 1)
        return nearest, before, np.minimum(before + 1, size - 1)

    def close(self):
        self.dataset.close()


def open_sources(product, bands, resolution, max_pixels):
    """Open each band's file and check it lies on the tile's grid; band -> BandSource."""
    sources = {}
    try:
        for band in bands:
            sources[band] = open_band(product, band, resolution, max_pixels)
    except BaseException:
        for source in sources.values():
            source.close()
        raise
    return sources


def open_band(product, band, resolution, max_pixels):
    """Open ``band``'s file for output at ``resolution``, or raise InputError naming the band."""
    path = Path(product.band_path(band, resolution))
    if not path.is_file():
        raise InputError(f"band {band} is missing from the product")
    try:
        dataset = rasterio.open(path)
    except RasterioError:
        raise InputError(f"band {band}: its JPEG 2000 file cannot be read (damaged or not JPEG 2000)") from None
    try:
        check_pixels(dataset.width, dataset.height, dataset.count, max_pixels, what=f"band {band}: its file")
        file_resolution = round(dataset.res[0])
        if (dataset.count < 1 or dataset.dtypes[0] not in ("uint8", "uint16")
                or file_resolution not in RESOLUTIONS
                or dataset.shape != tuple(product.shape(file_resolution))
                or not _same_origin(dataset.transform, product.transform(file_resolution))):
            raise InputError(f"band {band}: its file does not match the tile's grid "
                             f"({dataset.width} x {dataset.height} pixels of {dataset.res[0]:g} m)")
        # Decoding the last tile finds a truncated file now rather than after minutes of work.
        dataset.read(1, window=Window(dataset.width - 1, dataset.height - 1, 1, 1))
    except InputError:
        dataset.close()
        raise
    except RasterioError:
        dataset.close()
        raise InputError(f"band {band}: its JPEG 2000 file cannot be decoded (damaged or truncated)") from None
    return BandSource(band, dataset, file_resolution, resolution)


def _same_origin(a, b):
    return abs(a.c - b.c) < 1e-3 and abs(a.f - b.f) < 1e-3 and abs(a.a - b.a) < 1e-6 and abs(a.e - b.e) < 1e-6


def to_reflectance(dn, offset, quantification):
    """Reflectance x 10000 (uint16) from digital numbers: 0 stays 0 (no data), the rest in [1, 65535]."""
    value = dn.astype(np.int32)
    value += int(offset)
    if quantification != 10000:
        value = np.rint(value * (10000.0 / quantification))
    np.clip(value, 1, 65535, out=value)
    out = value.astype(np.uint16)
    out[dn == 0] = NODATA
    return out


def write_strips(out, sources, bands, product, window, resolution, mask_clouds, progress):
    """Write every band into ``out`` a strip of rows at a time; ``progress(fraction)`` every ~10 %."""
    # Strips start on multiples of STRIP_ROWS in the tile's grid, so they follow the JP2 tiles.
    first = int(window.row_off)
    stop = first + int(window.height)
    starts = [first] + list(range((first // STRIP_ROWS + 1) * STRIP_ROWS, stop, STRIP_ROWS))
    reported = 0.0
    for number, start in enumerate(starts, 1):
        rows = min(stop, (start // STRIP_ROWS + 1) * STRIP_ROWS) - start
        strip = Window(window.col_off, start, window.width, rows)
        target = Window(0, start - first, window.width, rows)
        scl = read_band(sources[SCL], strip) if SCL in sources else None
        clouds = np.isin(scl, CLOUD_CLASSES) if mask_clouds else None
        for index, band in enumerate(bands, 1):
            if band == SCL:
                data = scl.astype(np.uint16)
            else:
                data = to_reflectance(read_band(sources[band], strip), product.offsets.get(band, 0),
                                      product.quantification)
            if clouds is not None:
                data[clouds] = NODATA
            out.write(data, index, window=target)
        if number / len(starts) - reported >= 0.1 or number == len(starts):
            reported = number / len(starts)
            progress(reported)


def read_band(source, window):
    """Read a strip of the output grid, or raise InputError naming the band if decoding fails."""
    resampling = Resampling.nearest if source.band == SCL else Resampling.bilinear
    try:
        return source.read(window, resampling)
    except RasterioError:
        raise InputError(f"band {source.band}: its JPEG 2000 file cannot be decoded (damaged or truncated)") from None
