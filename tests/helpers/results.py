"""Results stores for tests: an embedded SQLite file, or the test PostgreSQL with PostGIS."""

import os

import pytest
import sqlalchemy as sa

POSTGRES = os.environ.get("CANDELA_TEST_POSTGRES")
TABLES = ("result_observation_sources", "result_observation_classes", "result_observations", "result_products",
          "result_runs", "result_store_version")


def results_url(kind, tmp_path):
    """A fresh, empty results database of ``kind`` (``sqlite`` or ``postgis``); skips PostGIS
    with the reason when the test PostgreSQL or its PostGIS is missing."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'results.gpkg'}"
    if not POSTGRES:
        pytest.skip("needs PostgreSQL with PostGIS: set CANDELA_TEST_POSTGRES to a SQLAlchemy URL (.ci/run starts one)")
    engine = sa.create_engine(POSTGRES)
    try:
        with engine.begin() as db:
            if not db.scalar(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")):
                pytest.skip("the test PostgreSQL has no PostGIS (Debian: postgis; .ci/postgres enables it)")
            for table in TABLES:
                db.exec_driver_sql(f"DROP TABLE IF EXISTS {table} CASCADE")
    finally:
        engine.dispose()
    return POSTGRES
