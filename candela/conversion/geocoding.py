"""Geocoding Sentinel-1 GRD images: output grids, and warping through the geolocation grid.

Geocoding uses the annotation's geolocation grid only, no DEM: its points become ground
control points and GDAL warps the sensor geometry onto the output grid with a thin plate
spline through them. Positions are exact at the grid points (whose heights come from ESA's
coarse terrain model) and interpolated between them (about 13 km apart in range and 20 km
in azimuth for IW GRD), so relief between grid points shifts pixels by up to its height
difference / tan(incidence angle): this is not terrain correction. A polynomial fit of the
same points (GDAL's default) is off by up to 1.6 km on the test product (relief up to 2 km).
"""

import math
import os

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import CRSError
from rasterio.transform import GCPTransformer
from rasterio.warp import reproject, transform as warp_transform
from rasterio.windows import Window, bounds as window_bounds
from shapely.geometry import Polygon, box

from ..errors import InputError
from ..rasters.grid import Grid
from ..rasters.reading import windows
from ..safe.sentinel1 import footprint, grid_gcps

#: Output block size (tiles of the written GeoTIFF), and the side of a window warped at once:
#: square windows need the smallest source windows (a wide strip of output rows maps to a
#: slanted band of the image, whose bounding box is several times larger).
BLOCKSIZE = 512
WARP_WINDOW = 4 * BLOCKSIZE
#: Largest output accepted, in pixels per band (a 10 m IW scene is about 0.5e9).
MAX_OUTPUT_PIXELS = 4 * 10**9


def utm_crs(longitude, latitude):
    """The WGS 84 / UTM zone CRS holding (longitude, latitude)."""
    zone = int((((longitude + 180.0) % 360.0) // 6.0)) + 1
    return CRS.from_epsg((32600 if latitude >= 0 else 32700) + min(zone, 60))


def grid_for(area, crs=None, resolution=10.0):
    """An output grid ``(crs, transform, width, height)`` covering ``area`` (a lon/lat geometry).

    ``crs`` defaults to the UTM zone of the area's centre; it must be projected, as
    ``resolution`` is in its units (metres). Edges are snapped outward to multiples of the
    resolution, so grids of overlapping products at one resolution are aligned.
    """
    resolution = _check_resolution(resolution)
    centre = area.centroid
    crs = utm_crs(centre.x, centre.y) if crs is None else _check_crs(crs)
    if crs.is_geographic:
        raise InputError("the output CRS must be projected (the resolution is in metres)")
    xs, ys = _boundary_points(area)
    xs, ys = warp_transform("EPSG:4326", crs, xs, ys)
    xs, ys = np.asarray(xs), np.asarray(ys)
    if not (np.all(np.isfinite(xs)) and np.all(np.isfinite(ys))):
        raise InputError("the product cannot be projected to the output CRS")
    left = math.floor(xs.min() / resolution) * resolution
    top = math.ceil(ys.max() / resolution) * resolution
    width = int(math.ceil(xs.max() / resolution - left / resolution))
    height = int(math.ceil(top / resolution - ys.min() / resolution))
    return crs, Affine(resolution, 0.0, left, 0.0, -resolution, top), width, height


def product_grid(product, crs=None, resolution=10.0):
    """The output grid of ``product`` alone: :func:`grid_for` its :func:`~candela.safe.sentinel1.footprint`."""
    return grid_for(footprint(product), crs, resolution)


def sensor_window(measurement, area, crs, margin=0):
    """The window of the image (lines and pixels) seen in ``area`` (a polygon in ``crs``).

    Points along the area's outline are mapped to image coordinates through the thin plate
    spline of the geolocation grid; the window is widened by ``margin`` pixels and clipped
    to the image.
    """
    xs, ys = _boundary_points(area)
    with GCPTransformer(list(grid_gcps(measurement.grid, crs)), tps=True) as transformer:
        rows, cols = transformer.rowcol(xs, ys, op=lambda value: value)
    rows, cols = np.asarray(rows, dtype=np.float64), np.asarray(cols, dtype=np.float64)
    top = max(0, int(math.floor(rows.min())) - margin)
    bottom = min(measurement.height, int(math.ceil(rows.max())) + margin)
    left = max(0, int(math.floor(cols.min())) - margin)
    right = min(measurement.width, int(math.ceil(cols.max())) + margin)
    if top >= bottom or left >= right:
        raise InputError("the product does not overlap the output grid")
    return Window(left, top, right - left, bottom - top)


def warp(source, out, outline, resampling, threads, report):
    """Warp ``source`` (a GCP-georeferenced image) into ``out`` window by window.

    Only the part of each window that the product's outline (in ``out``'s CRS) covers is
    warped: along the footprint's slanted edges, a bounding box per band of block rows.
    """
    bands = list(range(1, source.count + 1))
    parts = list(windows(out.width, out.height, WARP_WINDOW))
    num_threads = _warp_threads(threads)
    for done, window in enumerate(parts, start=1):
        values = np.full((len(bands), window.height, window.width), np.nan, dtype=np.float32)
        for part in _covered_parts(out.transform, window, outline):
            transform = out.transform @ Affine.translation(part.col_off, part.row_off)
            rows = slice(part.row_off - window.row_off, part.row_off - window.row_off + part.height)
            cols = slice(part.col_off - window.col_off, part.col_off - window.col_off + part.width)
            block = np.full((len(bands), part.height, part.width), np.nan, dtype=np.float32)
            reproject(
                source=rasterio.band(source, bands), destination=block,
                dst_transform=transform, dst_crs=out.crs, dst_nodata=np.nan, init_dest_nodata=True,
                resampling=resampling, num_threads=num_threads, SRC_METHOD="GCP_TPS",
            )
            values[:, rows, cols] = block
        out.write(values, window=window)
        report(done / len(parts))


def _covered_parts(transform, window, outline, margin=2):
    """Sub-windows of ``window`` holding its intersection with ``outline`` (a polygon)."""
    frame = box(*window_bounds(window, transform))
    if not outline.intersects(frame):
        return []
    if outline.contains(frame):
        return [window]
    parts = []
    for row in range(window.row_off, window.row_off + window.height, BLOCKSIZE):
        height = min(BLOCKSIZE, window.row_off + window.height - row)
        band = box(*window_bounds(Window(window.col_off, row, window.width, height), transform))
        covered = outline.intersection(band)
        if covered.is_empty:
            continue
        left, _, right, _ = covered.bounds
        first = max(window.col_off, int(math.floor((left - transform.c) / transform.a)) - margin)
        last = min(window.col_off + window.width, int(math.ceil((right - transform.c) / transform.a)) + margin)
        if first < last:
            parts.append(Window(first, row, last - first, height))
    return parts


def _warp_threads(threads):
    return (os.cpu_count() or 1) if threads == "ALL_CPUS" else max(1, int(threads))


def _check_resolution(value):
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not (math.isfinite(number) and number > 0):
        raise InputError(f"the resolution must be a positive number of metres, not {str(value)[:20]}")
    return number


def _check_crs(value):
    if isinstance(value, CRS):
        return value
    try:
        return CRS.from_user_input(value)
    except CRSError:
        raise InputError(f"the coordinate system {str(value)[:40]!r} is not understood") from None


def check_grid(grid):
    """``grid``, ``(crs, transform, width, height)``, checked, as a :class:`~candela.rasters.grid.Grid`."""
    try:
        crs, transform, width, height = grid
        width, height = int(width), int(height)
    except (TypeError, ValueError):
        raise InputError("the output grid must be (crs, transform, width, height)") from None
    crs = _check_crs(crs)
    if not isinstance(transform, Affine):
        transform = Affine(*transform)
    if width <= 0 or height <= 0 or width * height > MAX_OUTPUT_PIXELS:
        raise InputError(f"the output grid of {width} x {height} pixels is empty or too large")
    if transform.b or transform.d or transform.a <= 0 or transform.e >= 0:
        raise InputError("the output grid must be north-up (no rotation)")
    return Grid(crs, transform, width, height)


def pixel_metres(crs, transform, centre):
    """The output pixel size in metres (the smaller side), near ``centre`` for geographic CRSs."""
    if crs.is_geographic:
        latitude = math.radians(centre.y)
        return min(abs(transform.a) * 111320.0 * max(math.cos(latitude), 0.01), abs(transform.e) * 110540.0)
    factor = crs.linear_units_factor[1] if crs.linear_units_factor else 1.0
    return min(abs(transform.a), abs(transform.e)) * factor


def _boundary_points(area, per_edge=8):
    """The vertices of a polygon's exterior with ``per_edge - 1`` points between each two, as x and y lists."""
    ring = area.exterior if hasattr(area, "exterior") else area.convex_hull.exterior
    coords = list(ring.coords)
    xs, ys = [], []
    for (x0, y0), (x1, y1) in zip(coords[:-1], coords[1:]):
        for step in range(per_edge):
            xs.append(x0 + (x1 - x0) * step / per_edge)
            ys.append(y0 + (y1 - y0) * step / per_edge)
    return xs, ys


def projected(area, crs):
    """``area`` (lon/lat) as a polygon in ``crs``, its edges densified first."""
    xs, ys = warp_transform("EPSG:4326", crs, *_boundary_points(area))
    polygon = Polygon(list(zip(xs, ys)))
    return polygon if polygon.is_valid else polygon.buffer(0)
