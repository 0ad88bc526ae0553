"""Column types whose SQLite names are GeoPackage's (``TEXT(n)``, ``TEXT``), so that GDAL and
QGIS read every column of the embedded store; elsewhere they are SQLAlchemy's own. The names
are the GeoPackage standard's (OGC 12-128r18, table 1): migrations may import them."""

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.compiler import compiles

#: A time (UTC): on SQLite in GeoPackage's DATETIME form to the second, ``2017-07-30T09:50:31Z``,
#: which also sorts as it compares.
WHEN = sa.DateTime(timezone=True).with_variant(sqlite.DATETIME(
    storage_format="%(year)04d-%(month)02d-%(day)02dT%(hour)02d:%(minute)02d:%(second)02dZ",
    regexp=r"(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)Z"), "sqlite")


class Text(sa.String):
    """A string of at most ``length`` characters (``VARCHAR(n)`` elsewhere)."""

    cache_ok = True


class Json(sa.JSON):
    """A JSON document, stored as text."""

    cache_ok = True


@compiles(Text, "sqlite")
def _text(element, compiler, **kw):
    return f"TEXT({element.length})" if element.length else "TEXT"


@compiles(Json, "sqlite")
def _json(element, compiler, **kw):
    return "TEXT"
