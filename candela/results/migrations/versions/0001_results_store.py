"""The results store: runs, products, per-parcel damage observations, their classes and sources.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

from candela.results.sqltypes import WHEN, Json, Text  # the GeoPackage standard's names: fixed

# The geometry type as this revision made it (not the live schema's, which may change).
GEOMETRY = sa.LargeBinary().with_variant(Geometry(srid=4326, spatial_index=False), "postgresql")

# The GeoPackage 1.3 core an embedded (SQLite) store is made of, as the standard (OGC 12-128r18)
# writes it: the spatial reference systems, the contents, the geometry columns.
GEOPACKAGE = (
    "PRAGMA application_id = 1196444487",  # 'GPKG'
    "PRAGMA user_version = 10300",
    """CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY,
       organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL,
       description TEXT)""",
    """CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL,
       identifier TEXT UNIQUE, description TEXT DEFAULT '',
       last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
       min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
       CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id))""",
    """CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL,
       geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
       CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
       CONSTRAINT uk_gc_table_name UNIQUE (table_name),
       CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
       CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id))""",
    """INSERT INTO gpkg_spatial_ref_sys VALUES
       ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', 'undefined cartesian coordinate reference system'),
       ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', 'undefined geographic coordinate reference system'),
       ('WGS 84 geodetic', 4326, 'EPSG', 4326, 'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,'
        || '298.257223563,AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,'
        || 'AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],'
        || 'AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]',
        'longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid')""",
)
#: The store's layers: table, geometry column, what a GIS calls it.
LAYERS = (("result_observations", "geometry", "Parcel damage observations"),
          ("result_products", "footprint", "Footprints of the recorded products"))

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "result_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", Text(36), nullable=False, unique=True),
        sa.Column("job_id", Text(64)),
        sa.Column("process", Text(64), nullable=False),
        sa.Column("version", Text(32), nullable=False),
        sa.Column("created", WHEN, nullable=False),
        sa.Column("period_start", WHEN),
        sa.Column("period_end", WHEN),
        sa.Column("parameters", Json, nullable=False),
        sa.Column("inputs", Json, nullable=False),
        sa.Column("summary", Json, nullable=False),
    )
    op.create_table(
        "result_products",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run", sa.Integer, sa.ForeignKey("result_runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", Text(32), nullable=False),
        sa.Column("name", Text(64), nullable=False),
        sa.Column("source", Text(32)),
        sa.Column("href", Text()),
        sa.Column("media_type", Text(128)),
        sa.Column("period_start", WHEN),
        sa.Column("period_end", WHEN),
        sa.Column("footprint", GEOMETRY),
        sa.Column("properties", Json, nullable=False),
    )
    op.create_index("ix_result_products_run", "result_products", ["run"])
    op.create_index("ix_result_products_kind", "result_products", ["kind"])
    op.create_table(
        "result_observations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run", sa.Integer, sa.ForeignKey("result_runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("parcel", Text(255), nullable=False),
        sa.Column("parcel_key", Text(40), nullable=False),
        sa.Column("attributes", Json, nullable=False),
        sa.Column("geometry", GEOMETRY, nullable=False),
        sa.Column("minx", sa.Float, nullable=False),
        sa.Column("miny", sa.Float, nullable=False),
        sa.Column("maxx", sa.Float, nullable=False),
        sa.Column("maxy", sa.Float, nullable=False),
        sa.Column("period_start", WHEN),
        sa.Column("period_end", WHEN),
        sa.Column("area_ha", sa.Float),
        sa.Column("kept_ha", sa.Float),
        sa.Column("damaged_ha", sa.Float),
        sa.Column("damaged_fraction", sa.Float),
        sa.Column("score", sa.Float),
        sa.Column("rank", sa.Integer),
        sa.Column("level", Text(16)),
        sa.Column("status", Text(64), nullable=False),
        sa.Column("details", Json, nullable=False),
        sa.Column("classes_key", Text(), nullable=False),
    )
    op.create_index("ix_result_observations_run", "result_observations", ["run"])
    op.create_index("ix_result_observations_parcel_key", "result_observations", ["parcel_key"])
    op.create_index("ix_result_observations_damaged_fraction", "result_observations", ["damaged_fraction"])
    op.create_index("ix_result_observations_level", "result_observations", ["level"])
    op.create_index("ix_result_observations_bbox", "result_observations", ["minx", "maxx", "miny", "maxy"])
    if op.get_bind().dialect.name == "postgresql":
        # PostGIS answers spatial filters from its own index; SQLite uses the bounding box above.
        op.create_index("ix_result_observations_geometry", "result_observations", ["geometry"],
                        postgresql_using="gist")
    op.create_table(
        "result_observation_classes",
        sa.Column("observation", sa.Integer, sa.ForeignKey("result_observations.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("class_name", Text(128), primary_key=True),
        sa.Column("class_key", Text(128), nullable=False),
    )
    op.create_index("ix_result_observation_classes_class_key", "result_observation_classes", ["class_key"])
    op.create_table(
        "result_observation_sources",
        sa.Column("observation", sa.Integer, sa.ForeignKey("result_observations.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("source", Text(32), primary_key=True),
    )
    op.create_index("ix_result_observation_sources_source", "result_observation_sources", ["source"])
    if op.get_bind().dialect.name == "sqlite":
        for statement in GEOPACKAGE:
            op.execute(statement)
        for table, column, title in LAYERS:
            op.execute(sa.text("INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) "
                               "VALUES (:table, 'features', :title, 4326)").bindparams(table=table, title=title))
            op.execute(sa.text("INSERT INTO gpkg_geometry_columns VALUES (:table, :column, 'GEOMETRY', 4326, 0, 0)")
                       .bindparams(table=table, column=column))


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        for table in ("gpkg_geometry_columns", "gpkg_contents", "gpkg_spatial_ref_sys"):
            op.drop_table(table)
    for table in ("result_observation_sources", "result_observation_classes", "result_observations",
                  "result_products", "result_runs"):
        op.drop_table(table)
