"""Geometries to and from the store's columns: PostGIS on PostgreSQL, GeoPackage binary on SQLite.

The embedded store is a GeoPackage (OGC 12-128r18): its geometry blobs are the standard's
``StandardGeoPackageBinary`` (a small header with the SRS id and envelope, then WKB), so QGIS
and GDAL open ``var/results.gpkg`` as layers. Writing that header takes a few lines; reading and
writing the file needs no SpatiaLite.
"""

import hashlib
import struct

import shapely
from geoalchemy2.elements import WKBElement
from geoalchemy2.shape import from_shape, to_shape

#: The header: magic "GP", version 0, flags, SRS id.
_HEADER = struct.Struct("<2sBBi")
#: Flags: little endian (bit 0), an xy envelope (bits 1-3 = 1), standard binary (bit 5 = 0).
_FLAGS_XY = 0b0000_0011
#: Flags of an empty geometry: no envelope, the empty bit (4) set.
_FLAGS_EMPTY = 0b0001_0001
#: Bytes of the envelope by its indicator (bits 1-3): none, xy, xyz, xym, xyzm.
_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}
SRS_ID = 4326


def to_column(geometry, dialect):
    """The value of a geometry column for ``geometry`` (shapely, longitude/latitude)."""
    if geometry is None:
        return None
    if dialect.name == "postgresql":
        return from_shape(geometry, srid=SRS_ID)
    return to_geopackage(geometry)


def from_column(value):
    """The shapely geometry of a column value."""
    if value is None:
        return None
    if isinstance(value, WKBElement):
        return to_shape(value)
    return from_geopackage(bytes(value))


def to_geopackage(geometry, srs_id=SRS_ID):
    """A GeoPackage geometry blob (little endian, xy envelope) of a shapely geometry."""
    if geometry.is_empty:
        return _HEADER.pack(b"GP", 0, _FLAGS_EMPTY, srs_id) + shapely.to_wkb(geometry, byte_order=1)
    return (_HEADER.pack(b"GP", 0, _FLAGS_XY, srs_id) + struct.pack("<4d", *_envelope(geometry))
            + shapely.to_wkb(geometry, byte_order=1))


def from_geopackage(blob):
    """The shapely geometry of a GeoPackage geometry blob (any envelope, either byte order)."""
    magic, version, flags, _ = _HEADER.unpack_from(blob)
    if magic != b"GP" or version != 0 or flags & 0b0010_0000:
        raise ValueError("not a standard GeoPackage geometry")
    return shapely.from_wkb(blob[_HEADER.size + _ENVELOPE_BYTES[(flags >> 1) & 0b111]:])


def _envelope(geometry):
    """minx, maxx, miny, maxy: the order GeoPackage writes them in."""
    minx, miny, maxx, maxy = geometry.bounds
    return minx, maxx, miny, maxy


def geometry_key(geometry):
    """A stable key of a geometry: the same parcel sent again, even through another format
    (coordinates equal to about a millimetre), has the same key."""
    text = shapely.to_wkt(shapely.normalize(geometry), rounding_precision=8, trim=True)
    return hashlib.sha1(text.encode()).hexdigest()
