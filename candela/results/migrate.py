"""Creating and migrating the results store's schema, with Alembic, from the package's own scripts.

The server upgrades the store to the newest revision when it opens it (:func:`upgrade`); a
newer store than this code knows is refused rather than misread. On PostgreSQL, PostGIS is
enabled first (or its absence reported, saying how to enable it).
"""

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

#: Alembic's bookkeeping table: its own name, so a database shared with the job store stays clear.
VERSION_TABLE = "result_store_version"
SCRIPTS = Path(__file__).resolve().parent / "migrations"
#: The PostgreSQL advisory lock migrations take (an arbitrary constant of ours).
LOCK_KEY = 0x63616E64656C61  # "candela"


class StoreError(RuntimeError):
    """The results store cannot be opened (no PostGIS, a newer schema)."""


def alembic_config(connection=None):
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["connection"] = connection
    return config


def head():
    """The newest revision this code knows."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current(connection):
    """The revision the database is at (None for an empty database)."""
    return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_revision()


def upgrade(engine):
    """Bring the database to :func:`head`."""
    migrated = False
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Servers and workers open the store at once on first start: one migrates, the
            # others wait, then find it done. (SQLite: the engine's transactions are exclusive.)
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
            ensure_postgis(connection)
        at = current(connection)
        known = {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
        if at is not None and at not in known:
            raise StoreError(f"the results store is at revision {at}, newer than this server knows "
                             f"({head()}): upgrade the server")
        if at != head():
            command.upgrade(alembic_config(connection), "head")
            migrated = True
    if migrated and engine.dialect.name == "sqlite":
        # Into the file itself, out of the write-ahead log: GDAL reads a GeoPackage's
        # application_id from the file's header. (Outside a transaction: the engine's begin.)
        raw = engine.raw_connection()
        try:
            raw.driver_connection.execute("PRAGMA wal_checkpoint")
        finally:
            raw.close()


def ensure_postgis(connection):
    """Enable PostGIS in this database, or say that it must be."""
    if connection.scalar(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")):
        return
    try:
        with connection.begin_nested():
            connection.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
    except sa.exc.DBAPIError as error:
        raise StoreError("the results database needs PostGIS: install it (Debian: postgis) and run "
                         "'CREATE EXTENSION postgis' in that database as a superuser "
                         f"({str(error.orig).strip().splitlines()[0]})") from None
