"""Which GDAL drivers may open vector files users send, and with which options.

pyogrio carries its own GDAL (rasterio's settings do not reach it), so the policy is set on
pyogrio's. GDAL picks a driver from a file's content, whatever its name: a JSON file can be a
GDALG pipeline that reads any server file or URL, an XML file an OGR VRT naming other files.
Those drivers, and those that reach networks or run programs, are taken out of this process.
"""

import pyogrio
from pyogrio import _ogr

#: The driver each accepted format must be opened by.
DRIVERS = {"zipped shapefile": "ESRI Shapefile", "GeoPackage": "GPKG", "GeoJSON": "GeoJSON", "GML": "GML"}

#: Drivers that open what a file names (other files, URLs, command lines), reach networks or
#: run programs: never registered here.
UNSAFE = ("OGR_VRT", "GDALG", "GPSBabel", "ADBC", "AIVector", "HTTP", "WFS", "OAPIF", "OGCAPI", "CSW",
          "Carto", "AmigoCloud", "EEDA", "Elasticsearch", "NGW", "PLSCENES")

#: GML open options: never download a schema the document points to (DOWNLOAD_SCHEMA, else a
#: wfs:FeatureCollection's DescribeFeatureType URL is fetched), write no .gfs file next to the
#: user's file (WRITE_GFS), resolve no xlink:href (SKIP_RESOLVE_ELEMS), read no imported schemas.
GML_OPTIONS = dict(DOWNLOAD_SCHEMA="NO", WRITE_GFS="NO", SKIP_RESOLVE_ELEMS="ALL", USE_SCHEMA_IMPORT="NO")

#: The same for calls that take no open options, process-wide (GDAL 3.12 names).
GML_CONFIG = {"GML_DOWNLOAD_SCHEMA": "NO", "GML_SKIP_RESOLVE_ELEMS": "ALL"}


def open_options(kind):
    """The open options of format ``kind`` (a key of DRIVERS)."""
    return dict(GML_OPTIONS) if kind == "GML" else {}


def remove_unsafe_drivers():
    """Deregister the UNSAFE drivers from pyogrio's GDAL and set GML_CONFIG (fails closed)."""
    pyogrio.set_gdal_config_options(GML_CONFIG)
    present = [name for name in UNSAFE if name in pyogrio.list_drivers()]
    if not present:
        return
    skipped = pyogrio.get_gdal_config_option("GDAL_SKIP") or ""
    # GDAL splits GDAL_SKIP at commas when it has any (driver names can hold spaces), else at spaces.
    names = [name.strip() for name in skipped.split("," if "," in skipped else None) if name.strip()]
    pyogrio.set_gdal_config_options({"GDAL_SKIP": ",".join(names + present)})
    # GDALAllRegister ends by deregistering the drivers GDAL_SKIP names (AutoSkipDrivers).
    _ogr._register_drivers()
    left = [name for name in UNSAFE if name in pyogrio.list_drivers()]
    if left:
        raise RuntimeError(f"GDAL drivers {left} could not be deregistered; refusing to read vector files")
