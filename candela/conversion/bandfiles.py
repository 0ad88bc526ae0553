"""Sentinel-2 band files (JPEG 2000) read onto an output grid, a strip of rows at a time.

:func:`read_strip` reads every band of a strip from band files opened once
(:func:`open_sources`); :func:`strip_by_path` reads a strip on its own, in another process
(a Dask worker), re-opening the files by path with the same functions (:class:`StripTask`).
"""

import dataclasses
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.windows import Window

from ..compute import reopening, task_path
from ..errors import InputError
from ..rasters.env import gdal_threads
from ..rasters.reading import check_pixels
from ..safe.sentinel2 import RESOLUTIONS, Product

SCL = "SCL"
#: SCL classes masked by ``mask_clouds``: no data, cloud shadow, cloud medium/high probability, thin cirrus.
CLOUD_CLASSES = (0, 3, 8, 9, 10)
NODATA = 0
#: GDAL block cache, in bytes (rasterio takes an int GDAL_CACHEMAX as bytes, not MB): a
#: base, and per band a strip's decoded JP2 tiles (10980 x 1024 x 2 bytes), so that tiles
#: a resampled band's strips share are decoded once. More buys nothing: it only adds RSS.
CACHE_BASE = 64 * 2**20
CACHE_PER_BAND = 32 * 2**20


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


def gdal_env(bands):
    """GDAL's settings while reading ``bands`` band files: the block cache they need, and threads."""
    return rasterio.Env(GDAL_CACHEMAX=CACHE_BASE + CACHE_PER_BAND * bands, GDAL_NUM_THREADS=gdal_threads())


def open_sources(product, bands, resolution, max_pixels, verify=True):
    """Open each band's file and check it lies on the tile's grid; band -> BandSource."""
    sources = {}
    try:
        for band in bands:
            sources[band] = open_band(product, band, resolution, max_pixels, verify)
    except BaseException:
        close_sources(sources)
        raise
    return sources


def close_sources(sources):
    """Close the files of ``sources`` (band -> BandSource)."""
    for source in sources.values():
        source.close()


def open_band(product, band, resolution, max_pixels, verify=True):
    """Open ``band``'s file for output at ``resolution``, or raise InputError naming the band.

    With ``verify``, also decode the file's last tile, so that a truncated file is found now
    rather than after minutes of work (a strip task skips it: convert has verified the files).
    """
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
        if verify:
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


def read_band(source, window):
    """Read a strip of the output grid, or raise InputError naming the band if decoding fails."""
    resampling = Resampling.nearest if source.band == SCL else Resampling.bilinear
    try:
        return source.read(window, resampling)
    except RasterioError:
        raise InputError(f"band {source.band}: its JPEG 2000 file cannot be decoded (damaged or truncated)") from None


def read_strip(sources, bands, product, mask_clouds, strip):
    """Each of ``bands`` over ``strip`` of the output grid, from the open ``sources``: uint16
    reflectance x 10000 (SCL: its classes), 0 where ``mask_clouds`` masks a cloud.

    A generator: a band is read when the one before it has been written.
    """
    scl = read_band(sources[SCL], strip) if SCL in sources else None
    clouds = np.isin(scl, CLOUD_CLASSES) if mask_clouds else None
    for band in bands:
        if band == SCL:
            data = scl.astype(np.uint16)
        else:
            data = to_reflectance(read_band(sources[band], strip), product.offsets.get(band, 0),
                                  product.quantification)
        if clouds is not None:
            data[clouds] = NODATA
        yield data


@dataclasses.dataclass(frozen=True)
class StripTask:
    """What a strip task needs to read its strip on its own, in another process: the product
    (its band files by path), the bands to write and those to read (SCL too when masking
    clouds), the resolution, whether to mask clouds, and the pixel limit."""

    product: Product
    bands: tuple
    needed: tuple
    resolution: int
    mask_clouds: bool
    max_pixels: int

    @classmethod
    def of(cls, product, *args):
        """The task of ``product`` (found by its path as another process opens it) and ``args``."""
        return cls(dataclasses.replace(product, path=Path(task_path(product.path))), *args)


def strip_by_path(task, strip):
    """The bands of ``strip`` of ``task`` (a :class:`StripTask`), read from its band files
    re-opened by path: what :func:`read_strip` reads from the files that
    :func:`~candela.conversion.jpeg2tiff.convert` opened,
    with the same functions, as a list of arrays. Runs in a Dask worker."""
    with gdal_env(len(task.needed)):
        with reopening():
            sources = open_sources(task.product, task.needed, task.resolution, task.max_pixels, verify=False)
        try:
            return list(read_strip(sources, task.bands, task.product, task.mask_clouds, strip))
        finally:
            close_sources(sources)
