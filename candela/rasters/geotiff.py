"""Writing GeoTIFFs: the profile of float32 maps, and Cloud Optimized copies with overviews."""

from pathlib import Path

import numpy as np
import rasterio.shutil

from .env import gdal_threads

#: Tile size of Cloud Optimized GeoTIFFs, and of the overviews' last level.
BLOCKSIZE = 512


def float_profile(grid, count=1, nodata=np.nan, blocksize=512, **options):
    """Profile of a tiled, DEFLATE-compressed float32 GeoTIFF on ``grid``."""
    return grid.profile(driver="GTiff", dtype="float32", count=count, nodata=nodata, tiled=True,
                        blockxsize=blocksize, blockysize=blocksize, compress="deflate", predictor=3,
                        BIGTIFF="IF_SAFER", **options)


def overview_factors(width, height):
    """Decimation factors of the overviews, halving until one fits in a block (as GDAL's COG driver)."""
    factors = []
    while max(width, height) / 2 ** len(factors) > BLOCKSIZE:
        factors.append(2 ** (len(factors) + 1))
    return factors


def write_cog(source, destination):
    """Copy ``source`` and its overviews to a COG: 512 px tiles, DEFLATE with horizontal predictor."""
    try:
        rasterio.shutil.copy(
            source, destination, driver="COG",
            BLOCKSIZE=BLOCKSIZE, COMPRESS="DEFLATE", PREDICTOR="YES", NUM_THREADS=gdal_threads(),
            OVERVIEWS="FORCE_USE_EXISTING", BIGTIFF="IF_SAFER",
        )
    except BaseException:
        Path(destination).unlink(missing_ok=True)
        raise
