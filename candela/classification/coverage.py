"""The pixels of a grid one sample covers, as a mask over the window of its bounds.

- a point: the pixel containing it (each point of a multipoint);
- a polygon: every pixel whose centre lies in it, or, when it covers no pixel centre, the
  pixel under its representative point (``shapely.point_on_surface``);
- a line: every pixel it touches;
- parts of a collection: each by its own rule.

Each sample is rasterized alone, in its own window, so the cost follows the samples' area,
not the grid's; a mask costs a byte per pixel of its window.
"""

from dataclasses import dataclass

import numpy as np
import rasterio.features
import shapely
from affine import Affine

POINTS = (0, 4)  # shapely type ids: Point, MultiPoint
POLYGONS = (3, 6)  # Polygon, MultiPolygon
COLLECTION = 7


@dataclass(frozen=True)
class Coverage:
    """``mask`` (bool) of the pixels covered in the window whose top-left pixel is (row0, col0)."""

    row0: int
    col0: int
    mask: np.ndarray

    def shared(self, other):
        """The views of ``self.mask`` and ``other.mask`` on the pixels both windows hold, or
        None when the windows do not meet."""
        row0, col0 = max(self.row0, other.row0), max(self.col0, other.col0)
        row1 = min(self.row0 + self.mask.shape[0], other.row0 + other.mask.shape[0])
        col1 = min(self.col0 + self.mask.shape[1], other.col0 + other.mask.shape[1])
        if row1 <= row0 or col1 <= col0:
            return None
        return tuple(c.mask[row0 - c.row0:row1 - c.row0, col0 - c.col0:col1 - c.col0] for c in (self, other))


def windows(geometries, grid):
    """Each geometry's window (row0, col0, row1, col1): the whole pixels its bounds reach, one
    more on each side (a line along a pixel edge touches both), cut to the grid."""
    left, bottom, right, top = shapely.bounds(geometries).T
    cols, rows = (~grid.transform) @ (np.r_[left, left, right, right], np.r_[bottom, top, bottom, top])
    # Reprojection can leave a far-away sample's bounds infinite or NaN: its window is empty.
    rows, cols = np.nan_to_num(rows.reshape(4, -1), nan=-1.0), np.nan_to_num(cols.reshape(4, -1), nan=-1.0)
    first = np.floor([rows.min(axis=0), cols.min(axis=0)]) - 1
    last = np.ceil([rows.max(axis=0), cols.max(axis=0)]) + 1
    size = np.array([[grid.height], [grid.width]])
    return np.concatenate([np.clip(first, 0, size), np.clip(last, 0, size)]).T.astype(np.int64)


def coverage(geometry, window, grid):
    """The Coverage of ``geometry`` on ``grid``, within ``window`` (from :func:`windows`)."""
    row0, col0, row1, col1 = (int(value) for value in window)
    mask = np.zeros((row1 - row0, col1 - col0), dtype=bool)
    if mask.size:
        _cover(mask, geometry, row0, col0, grid)
    return Coverage(row0, col0, mask)


def _cover(mask, geometry, row0, col0, grid):
    """Set the pixels ``geometry`` covers in ``mask``, the window at (row0, col0)."""
    kind = shapely.get_type_id(geometry)
    if kind in POINTS:
        _cover_points(mask, shapely.get_coordinates(geometry), row0, col0, grid)
    elif kind == COLLECTION:
        for part in shapely.get_parts(geometry):
            _cover(mask, part, row0, col0, grid)
    else:
        polygonal = kind in POLYGONS
        burnt = rasterio.features.rasterize([(geometry, 1)], out_shape=mask.shape, dtype="uint8",
                                            transform=grid.transform @ Affine.translation(col0, row0),
                                            all_touched=not polygonal)
        if polygonal and not burnt.any():
            point = shapely.get_coordinates(shapely.point_on_surface(geometry))
            _cover_points(mask, point, row0, col0, grid)
        else:
            np.logical_or(mask, burnt, out=mask)


def _cover_points(mask, xy, row0, col0, grid):
    """Set the pixels containing the points ``xy`` (n x 2) in ``mask``, those inside it."""
    cols, rows = (~grid.transform) @ (xy[:, 0], xy[:, 1])
    rows, cols = np.floor(rows) - row0, np.floor(cols) - col0
    inside = (rows >= 0) & (rows < mask.shape[0]) & (cols >= 0) & (cols < mask.shape[1])  # False for NaN
    mask[rows[inside].astype(np.int64), cols[inside].astype(np.int64)] = True
