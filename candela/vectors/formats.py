"""What a vector file is, told from its content (never its name), and the checks each format
needs before GDAL opens it: the zip's layout and limits, the GeoPackage header, GML without
DOCTYPE or entities."""

import os
import zipfile

from ..errors import InputError
from ..safe.archive import check_zip, shown_member

ZIPPED_SHAPEFILE, GEOPACKAGE, GEOJSON, GML = "zipped shapefile", "GeoPackage", "GeoJSON", "GML"

UNREADABLE = "not a vector layer GDAL can read (GeoJSON, GML, zipped shapefile or GeoPackage)"

SQLITE_MAGIC = b"SQLite format 3\x00"
#: GeoPackage application_id values (header offset 68): 1.2 and later, 1.1, 1.0.
GEOPACKAGE_IDS = (b"GPKG", b"GP11", b"GP10")
SHP_MAGIC = b"\x00\x00\x27\x0a"
#: Files a shapefile needs beside its .shp.
REQUIRED = (".shx", ".dbf")
#: Folders some zip tools add (resource forks): not part of the layout.
IGNORED_FOLDERS = ("__MACOSX/",)
#: Read in chunks this large when scanning GML; declarations are looked for across chunk edges.
CHUNK = 1 << 20
DECLARATIONS = (b"<!doctype", b"<!entity")


def detect_format(path):
    """ZIPPED_SHAPEFILE, GEOPACKAGE, GEOJSON or GML, from the first bytes of ``path``."""
    with open(path, "rb") as stream:
        head = stream.read(4096)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return ZIPPED_SHAPEFILE
    if head.startswith(SQLITE_MAGIC):
        return GEOPACKAGE
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    # UTF-16 and UTF-32 are refused with the rest: a byte scan for DOCTYPE could not see them.
    if b"\x00" not in head:
        if text.startswith(b"{"):
            return GEOJSON
        if text.startswith(b"<"):
            return GML
    raise InputError(UNREADABLE)


def gdal_source(path, kind, max_bytes):
    """The name GDAL opens ``path`` of format ``kind`` by, once the format's checks pass."""
    if kind == ZIPPED_SHAPEFILE:
        # Braces keep GDAL from looking for ".zip" inside the path to split it.
        return f"/vsizip/{{{os.path.abspath(path)}}}/{shapefile_member(path, max_bytes)}"
    if kind == GEOPACKAGE:
        check_geopackage(path)
    elif kind == GML:
        refuse_declarations(path)
    return os.fspath(path)


def shapefile_member(path, max_bytes):
    """The .shp member of a zip holding exactly one shapefile (its .shx and .dbf beside it, a
    .prj, .cpg or other files of the same name allowed), after the archive checks of
    :func:`candela.safe.archive.check_zip` against ``max_bytes`` unpacked."""
    members = check_zip(path, max_total_bytes=max_bytes)
    files = [m.filename for m in members if not m.is_dir() and not m.filename.startswith(IGNORED_FOLDERS)]
    shps = [name for name in files if name.lower().endswith(".shp")]
    if len(shps) != 1:
        found = f"{len(shps)} shapefiles ({', '.join(sorted(shps)[:5])})" if shps else "no shapefile (.shp)"
        raise InputError(f"the zip archive holds {found}: send exactly one shapefile")
    shp = shps[0]
    stem = shp[:-4].lower()
    for extension in REQUIRED:
        if stem + extension not in (name.lower() for name in files):
            raise InputError(f"the zip archive has {shown_member(shp)} but not its {extension} file")
    others = [name for name in files if not name.lower().startswith(stem + ".")]
    if others:
        raise InputError(f"the zip archive holds {shown_member(others[0])} besides the shapefile {shown_member(shp)}")
    with zipfile.ZipFile(path) as archive, archive.open(shp) as stream:
        if stream.read(4) != SHP_MAGIC:
            raise InputError(f"the zip archive's {shown_member(shp)} is not a shapefile")
    return shp


def check_geopackage(path):
    """Refuse an SQLite database that does not declare itself a GeoPackage: GDAL's SQLite
    driver, which would open it, does more than read a layer."""
    with open(path, "rb") as stream:
        header = stream.read(72)
    if header[68:72] not in GEOPACKAGE_IDS:
        raise InputError("the SQLite database is not a GeoPackage")


def refuse_declarations(path):
    """Refuse an XML document holding a DOCTYPE or ENTITY declaration, before GDAL parses it:
    entities can expand without bound or read server files and URLs."""
    overlap = max(len(text) for text in DECLARATIONS) - 1
    tail = b""
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK):
            window = (tail + chunk).lower()
            if any(text in window for text in DECLARATIONS):
                raise InputError("the GML has a DOCTYPE or ENTITY declaration, which is not accepted")
            tail = window[-overlap:]

