"""Where pixels live: a raster's grid, and rasters seen on another grid.

A :class:`Grid` is a CRS, a transform and a size. Inputs on another grid are read through
:func:`aligned`, which resamples them onto the reference grid on the fly, so every detector
reads all its inputs window by window on one grid with bounded memory.
"""

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds

from ..errors import InputError


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
