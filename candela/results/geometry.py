"""Geometries to and from the store's columns (PostGIS on PostgreSQL, WKB on SQLite)."""

import hashlib

import shapely
from geoalchemy2.elements import WKBElement
from geoalchemy2.shape import from_shape, to_shape


def to_column(geometry, dialect):
    """The value of a geometry column for ``geometry`` (shapely, longitude/latitude)."""
    if geometry is None:
        return None
    if dialect.name == "postgresql":
        return from_shape(geometry, srid=4326)
    return shapely.to_wkb(geometry)


def from_column(value):
    """The shapely geometry of a column value."""
    if value is None:
        return None
    if isinstance(value, WKBElement):
        return to_shape(value)
    return shapely.from_wkb(bytes(value))


def geometry_key(geometry):
    """A stable key of a geometry: the same parcel sent again, even through another format
    (coordinates equal to about a millimetre), has the same key."""
    text = shapely.to_wkt(shapely.normalize(geometry), rounding_precision=8, trim=True)
    return hashlib.sha1(text.encode()).hexdigest()
