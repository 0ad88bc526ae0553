"""A search's area of interest from text: the ``minx,miny,maxx,maxy[,crs]`` literal or a WKT polygon.

Both become a shapely geometry in EPSG:4326 (x longitude, y latitude). The rectangle is the
literal every process takes (:func:`candela.rasters.aoi.parse_aoi`); a WKT ``POLYGON`` or
``MULTIPOLYGON`` may carry an EWKT ``SRID=code;`` prefix (EPSG code), and is in EPSG:4326
without one. Geometries in another CRS are densified before reprojection, so that their edges
keep their shape.
"""

import re

import shapely
from rasterio.crs import CRS
from rasterio.errors import CRSError
from rasterio.warp import transform_geom
from shapely.errors import ShapelyError
from shapely.geometry import box, mapping, shape

from ..errors import InputError
from ..rasters.aoi import LONLAT, parse_aoi

EWKT = re.compile(r"\s*SRID\s*=\s*(\d+)\s*;(.*)", re.IGNORECASE | re.DOTALL)
AREA_TYPES = ("Polygon", "MultiPolygon")
# Points per edge when reprojecting, as AOI.bounds_in does.
DENSIFY = 20


def parse_area(text):
    """The area ``text`` names, in EPSG:4326, or None for an empty text; InputError names ``aoi``."""
    if text is None or not str(text).strip():
        return None
    text = str(text).strip()
    if text[0].isalpha():
        return parse_wkt(text)
    try:
        aoi = parse_aoi(text)
    except InputError as error:
        raise InputError(str(error), input="aoi") from None
    return to_lonlat(box(*aoi.bounds), CRS.from_user_input(aoi.crs))


def parse_wkt(text):
    """A WKT polygon or multipolygon, optionally ``SRID=code;`` prefixed, in EPSG:4326."""
    crs = CRS.from_epsg(4326)
    prefixed = EWKT.fullmatch(text)
    if prefixed:
        try:
            crs = CRS.from_epsg(int(prefixed.group(1)))
        except CRSError:
            raise InputError(f"unknown SRID {prefixed.group(1)}: the SRID is an EPSG code", input="aoi") from None
        text = prefixed.group(2)
    try:
        # Flat: a Z or M coordinate has no meaning for parcels on the map.
        geometry = shapely.force_2d(shapely.from_wkt(text))
    except ShapelyError:
        raise InputError("the WKT is not well-formed", input="aoi") from None
    if geometry.geom_type not in AREA_TYPES or geometry.is_empty:
        raise InputError(f"expected a polygon or multipolygon, not {geometry.geom_type}", input="aoi")
    if not geometry.is_valid:
        raise InputError(f"the polygon is not valid: {shapely.is_valid_reason(geometry)}", input="aoi")
    return to_lonlat(geometry, crs)


def to_lonlat(geometry, crs):
    """``geometry`` (in ``crs``) in EPSG:4326."""
    if crs == CRS.from_user_input(LONLAT):
        return geometry
    minx, miny, maxx, maxy = geometry.bounds
    dense = shapely.segmentize(geometry, max(maxx - minx, maxy - miny) / DENSIFY)
    return shape(transform_geom(crs, LONLAT, mapping(dense)))
