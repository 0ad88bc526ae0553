"""The results store's tables: runs, the products they made, and per-parcel damage observations.

One schema for both backends. Geometries are in longitude/latitude (EPSG:4326): a PostGIS
``geometry(4326)`` on PostgreSQL; on SQLite, which is a GeoPackage, a GeoPackage geometry
(:mod:`candela.results.geometry`) beside the geometry's bounding box (``minx`` .. ``maxy``),
which narrows a spatial query before shapely decides it exactly (no SpatiaLite build comes from
PyPI, and the embedded store must need nothing but Python).

The tables are created and changed only by the migrations (:mod:`candela.results.migrate`);
a test checks that these declarations and the migrations agree.
"""

import sqlalchemy as sa
from geoalchemy2 import Geometry

from .sqltypes import WHEN, Json, Text

METADATA = sa.MetaData()
#: A geometry column: PostGIS geometry on PostgreSQL; on SQLite a BLOB of GeoPackage geometries
#: (declared BLOB, not GEOMETRY: GeoAlchemy2 would reflect a GEOMETRY column as SpatiaLite's).
GEOMETRY = sa.LargeBinary().with_variant(Geometry(srid=4326, spatial_index=False), "postgresql")

RUNS = sa.Table(
    "result_runs", METADATA,
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

PRODUCTS = sa.Table(
    "result_products", METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run", sa.Integer, sa.ForeignKey("result_runs.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("kind", Text(32), nullable=False, index=True),
    sa.Column("name", Text(64), nullable=False),
    sa.Column("source", Text(32)),
    sa.Column("href", Text()),
    sa.Column("media_type", Text(128)),
    sa.Column("period_start", WHEN),
    sa.Column("period_end", WHEN),
    sa.Column("footprint", GEOMETRY),
    sa.Column("properties", Json, nullable=False),
)

OBSERVATIONS = sa.Table(
    "result_observations", METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run", sa.Integer, sa.ForeignKey("result_runs.id", ondelete="CASCADE"), nullable=False, index=True),
    # The parcel's own identifier (its id attribute), and a key of its geometry: the same
    # parcel seen by two runs is one feature of the knowledge graph.
    sa.Column("parcel", Text(255), nullable=False),
    sa.Column("parcel_key", Text(40), nullable=False, index=True),
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
    sa.Column("damaged_fraction", sa.Float, index=True),
    sa.Column("score", sa.Float),
    sa.Column("rank", sa.Integer),
    sa.Column("level", Text(16), index=True),
    sa.Column("status", Text(64), nullable=False),
    sa.Column("details", Json, nullable=False),
    # The kept classes, casefolded and sorted, joined by "|": a later run replaces an earlier
    # one's answer only when it measured the same classes (candela.results.search).
    sa.Column("classes_key", Text(), nullable=False),
    sa.Index("ix_result_observations_bbox", "minx", "maxx", "miny", "maxy"),
)

#: The land-cover classes an observation was measured over (e.g. ``forest``).
OBSERVATION_CLASSES = sa.Table(
    "result_observation_classes", METADATA,
    sa.Column("observation", sa.Integer, sa.ForeignKey("result_observations.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("class_name", Text(128), primary_key=True),
    # Compared without case: SQLite's lower() knows only ASCII, and class names need not be
    # English ("łąka").
    sa.Column("class_key", Text(128), nullable=False, index=True),
)

#: The change sources an observation's damage comes from (``optical``, ``sar``).
OBSERVATION_SOURCES = sa.Table(
    "result_observation_sources", METADATA,
    sa.Column("observation", sa.Integer, sa.ForeignKey("result_observations.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("source", Text(32), primary_key=True, index=True),
)
