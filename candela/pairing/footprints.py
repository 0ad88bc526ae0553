"""Footprints of images on the ground: their outlines, bounds in degrees, and how they overlap.

Overlaps are measured as areas in a Lambert equal-area projection centred near the
footprints (not in degrees²); groups of overlapping footprints are connected components.
"""

import numpy as np
import shapely
from rasterio.crs import CRS
from rasterio.warp import transform as transform_xy
from rasterio.warp import transform_bounds

from ..errors import InputError

LONLAT = CRS.from_epsg(4326)
EDGE_POINTS = 21


def grid_outline(transform, width, height, points=EDGE_POINTS):
    """The closed outline of a ``width`` x ``height`` grid, ``points`` per edge, in its CRS."""
    steps = np.linspace(0.0, 1.0, points)[:-1]
    cols = np.concatenate([steps * width, np.full_like(steps, width), (1 - steps) * width, np.zeros_like(steps)])
    rows = np.concatenate([np.zeros_like(steps), steps * height, np.full_like(steps, height), (1 - steps) * height])
    xs, ys = transform @ (cols, rows)
    ring = list(zip(xs.tolist(), ys.tolist()))
    return tuple(ring + ring[:1])


def lonlat_bounds(crs, ring):
    """``(west, south, east, north)`` of a ring in degrees; west > east across the antimeridian.

    Raises InputError when the ring's CRS cannot be related to longitude and latitude.
    """
    xs, ys = zip(*ring)
    if crs == LONLAT:
        bounds = (min(xs), min(ys), max(xs), max(ys))
    else:
        try:
            bounds = transform_bounds(crs, LONLAT, min(xs), min(ys), max(xs), max(ys), densify_pts=EDGE_POINTS)
        except Exception:  # GDAL's error classes are not public: any failure means the same here
            bounds = (float("nan"),) * 4
    if not all(np.isfinite(bounds)):
        raise InputError("its coordinate reference system cannot be related to longitude and latitude")
    return tuple(float(value) for value in bounds)


def overlap_fraction(crs_a, ring_a, crs_b, ring_b, centre):
    """Intersection area over the smaller area of two rings, in an equal-area projection.

    ``centre`` is ``(lon, lat)``, near both rings: the projection's centre.
    """
    equal_area = CRS.from_proj4(f"+proj=laea +lat_0={centre[1]} +lon_0={centre[0]} +datum=WGS84 +units=m +no_defs")
    a = _projected_polygon(crs_a, ring_a, equal_area)
    b = _projected_polygon(crs_b, ring_b, equal_area)
    smaller = min(a.area, b.area)
    if smaller <= 0:
        return 0.0
    return min(1.0, a.intersection(b).area / smaller)


def _projected_polygon(crs, ring, dst_crs):
    xs, ys = zip(*ring)
    polygon = shapely.Polygon(zip(*transform_xy(crs, dst_crs, xs, ys)))
    # An outline reprojected far from its own CRS's valid area can cross itself.
    return polygon if polygon.is_valid else shapely.make_valid(polygon)


class Footprints:
    """The distinct footprints of some images, how they overlap, and the places they make."""

    def __init__(self, images):
        self.images = list(images)
        self.rings, self.crss, self.bounds, index, self._of = [], [], [], {}, {}
        for image in self.images:
            # Per-band files of one grid share a footprint: compare each grid once.
            key = (image.outline_crs.to_wkt(), image.outline)
            if key not in index:
                index[key] = len(self.rings)
                self.rings.append(image.outline)
                self.crss.append(image.outline_crs)
                self.bounds.append(image.bounds_lonlat)
            self._of[id(image)] = index[key]
        self._overlaps = {}

    def overlap(self, i, j):
        """Overlap fraction of footprints ``i`` and ``j`` (see :func:`overlap_fraction`)."""
        if i == j:
            return 1.0
        key = (min(i, j), max(i, j))
        if key not in self._overlaps:
            a, b = key
            self._overlaps[key] = overlap_fraction(self.crss[a], self.rings[a], self.crss[b], self.rings[b],
                                                   _centre(self.bounds[a]))
        return self._overlaps[key]

    def groups(self, min_overlap):
        """Images in connected groups of footprints overlapping by more than ``min_overlap``."""
        parent = list(range(len(self.rings)))

        def root(i):
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        boxes = [_lonlat_box(bounds) for bounds in self.bounds]
        if boxes:
            near_a, near_b = shapely.STRtree(boxes).query(boxes, predicate="intersects")
            for i, j in zip(near_a.tolist(), near_b.tolist()):
                if i < j and root(i) != root(j) and self.overlap(i, j) > min_overlap:
                    parent[root(i)] = root(j)
        places = {}
        for image in self.images:
            places.setdefault(root(self._of[id(image)]), []).append(image)
        return list(places.values())

    def overlap_of(self, a, b):
        """Overlap fraction of two images' footprints."""
        return self.overlap(self._of[id(a)], self._of[id(b)])


def _lonlat_box(bounds):
    west, south, east, north = bounds
    if west <= east:
        return shapely.box(west, south, east, north)
    return shapely.MultiPolygon([shapely.box(west, south, 180, north), shapely.box(-180, south, east, north)])


def _centre(bounds):
    west, south, east, north = bounds
    if west > east:
        east += 360
    lon = (west + east) / 2
    return ((lon + 180) % 360 - 180, (south + north) / 2)
