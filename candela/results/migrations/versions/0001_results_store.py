"""The results store: runs, products, per-parcel damage observations, their classes and sources.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

# The types as this revision made them (not imported from the live schema, which may change).
GEOMETRY = sa.LargeBinary().with_variant(Geometry(srid=4326, spatial_index=False), "postgresql")
WHEN = sa.DateTime(timezone=True)

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "result_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(36), nullable=False, unique=True),
        sa.Column("job_id", sa.String(64)),
        sa.Column("process", sa.String(64), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("created", WHEN, nullable=False),
        sa.Column("period_start", WHEN),
        sa.Column("period_end", WHEN),
        sa.Column("parameters", sa.JSON, nullable=False),
        sa.Column("inputs", sa.JSON, nullable=False),
        sa.Column("summary", sa.JSON, nullable=False),
    )
    op.create_table(
        "result_products",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run", sa.Integer, sa.ForeignKey("result_runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("source", sa.String(32)),
        sa.Column("href", sa.Text),
        sa.Column("media_type", sa.String(128)),
        sa.Column("period_start", WHEN),
        sa.Column("period_end", WHEN),
        sa.Column("footprint", GEOMETRY),
        sa.Column("properties", sa.JSON, nullable=False),
    )
    op.create_index("ix_result_products_run", "result_products", ["run"])
    op.create_index("ix_result_products_kind", "result_products", ["kind"])
    op.create_table(
        "result_observations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run", sa.Integer, sa.ForeignKey("result_runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("parcel", sa.String(255), nullable=False),
        sa.Column("parcel_key", sa.String(40), nullable=False),
        sa.Column("attributes", sa.JSON, nullable=False),
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
        sa.Column("level", sa.String(16)),
        sa.Column("status", sa.String(64), nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("classes_key", sa.Text, nullable=False),
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
        sa.Column("class_name", sa.String(128), primary_key=True),
        sa.Column("class_key", sa.String(128), nullable=False),
    )
    op.create_index("ix_result_observation_classes_class_key", "result_observation_classes", ["class_key"])
    op.create_table(
        "result_observation_sources",
        sa.Column("observation", sa.Integer, sa.ForeignKey("result_observations.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("source", sa.String(32), primary_key=True),
    )
    op.create_index("ix_result_observation_sources_source", "result_observation_sources", ["source"])


def downgrade():
    for table in ("result_observation_sources", "result_observation_classes", "result_observations",
                  "result_products", "result_runs"):
        op.drop_table(table)
