"""The results store: every run's products and per-parcel damage, with provenance, in SQL.

An embedded GeoPackage (SQLite) file by default; PostgreSQL + PostGIS with a database URL. Opening a store
migrates it to the newest schema (:mod:`candela.results.migrate`). A run is recorded in one
transaction, so a reader sees all of it or none of it.
"""

import json

import sqlalchemy as sa

from ..jobs.store import create_engine
from .geometry import from_column, geometry_key, to_column
from .migrate import upgrade
from .records import iso
from .schema import OBSERVATION_CLASSES, OBSERVATION_SOURCES, OBSERVATIONS, PRODUCTS, RUNS
from .search import search_statement, refine


class UnknownRun(KeyError):
    """No run has this id."""


class ResultsStore:
    """Runs, products and observations in a SQL database (a GeoPackage file or PostgreSQL + PostGIS)."""

    def __init__(self, url, engine=None):
        self.url = url
        # JSON as written (Leśnictwo, not Le\u015bnictwo): GIS software shows the stored text.
        self.engine = engine or create_engine(url, json_serializer=lambda value: json.dumps(value, ensure_ascii=False))
        upgrade(self.engine)

    @property
    def spatial_sql(self):
        """Whether the database decides spatial relations itself (PostGIS)."""
        return self.engine.dialect.name == "postgresql"

    # Recording

    def record(self, run, products=(), observations=()):
        """Record a :class:`~candela.results.records.Run` with its products and observations;
        return the run's id."""
        with self.engine.begin() as db:
            dialect = db.dialect
            run_pk = db.execute(RUNS.insert().values(
                run_id=run.run_id, job_id=run.job_id, process=run.process, version=run.version,
                created=run.created, period_start=run.period_start, period_end=run.period_end,
                parameters=run.parameters, inputs=run.inputs, summary=run.summary)).inserted_primary_key[0]
            for product in products:
                db.execute(PRODUCTS.insert().values(
                    run=run_pk, kind=product.kind, name=product.name, source=product.source, href=product.href,
                    media_type=product.media_type, period_start=product.period_start,
                    period_end=product.period_end, footprint=to_column(product.footprint, dialect),
                    properties=product.properties))
            for observation in observations:
                self._insert_observation(db, run_pk, observation)
        return run.run_id

    @staticmethod
    def _insert_observation(db, run_pk, observation):
        geometry = observation.geometry
        minx, miny, maxx, maxy = geometry.bounds
        values = {name: getattr(observation, name) for name in (
            "parcel", "attributes", "period_start", "period_end", "area_ha", "kept_ha", "damaged_ha",
            "damaged_fraction", "score", "rank", "level", "status", "details")}
        pk = db.execute(OBSERVATIONS.insert().values(
            run=run_pk, parcel_key=geometry_key(geometry), geometry=to_column(geometry, db.dialect),
            classes_key="|".join(sorted({name.casefold() for name in observation.classes})),
            minx=minx, miny=miny, maxx=maxx, maxy=maxy, **values)).inserted_primary_key[0]
        if observation.classes:
            db.execute(OBSERVATION_CLASSES.insert(), [{"observation": pk, "class_name": name, "class_key": name.casefold()}
                                                      for name in sorted(set(observation.classes))])
        if observation.sources:
            db.execute(OBSERVATION_SOURCES.insert(), [{"observation": pk, "source": name}
                                                      for name in sorted(set(observation.sources))])

    # Reading

    def run_ids(self):
        """The database keys of every run, oldest first (the knowledge graph follows them)."""
        with self.engine.connect() as db:
            return list(db.scalars(sa.select(RUNS.c.id).order_by(RUNS.c.id)))

    def runs(self, keys=None):
        """Runs (all, or those of database ``keys``) as dicts, each with its ``products``."""
        query = sa.select(RUNS).order_by(RUNS.c.id)
        if keys is not None:
            query = query.where(RUNS.c.id.in_(list(keys)))
        with self.engine.connect() as db:
            runs = [self._run(row) for row in db.execute(query).mappings()]
            if not runs:
                return []
            products = sa.select(PRODUCTS).where(PRODUCTS.c.run.in_([run["key"] for run in runs]))
            by_key = {run["key"]: run for run in runs}
            for row in db.execute(products.order_by(PRODUCTS.c.id)).mappings():
                by_key[row["run"]]["products"].append(self._product(row))
        return runs

    def run(self, run_id):
        """One run by its id (UnknownRun when none)."""
        with self.engine.connect() as db:
            key = db.scalar(sa.select(RUNS.c.id).where(RUNS.c.run_id == str(run_id)))
        if key is None:
            raise UnknownRun(run_id)
        return self.runs([key])[0]

    def observations(self, runs=None):
        """Observations (all, or those of the runs of database keys ``runs``) as dicts."""
        query = self._observation_select()
        if runs is not None:
            query = query.where(OBSERVATIONS.c.run.in_(list(runs)))
        with self.engine.connect() as db:
            return self._observations(db, db.execute(query.order_by(OBSERVATIONS.c.id)).mappings())

    def search(self, query):
        """Observations matching a :class:`~candela.search.query.SearchQuery`, in its order, at
        most its limit."""
        statement = search_statement(self._observation_select(), query, self.spatial_sql)
        with self.engine.connect() as db:
            rows = db.execute(statement).mappings()
            return self._observations(db, refine(rows, query, self.spatial_sql))

    def classes(self):
        """The land-cover classes observations were measured over, sorted."""
        with self.engine.connect() as db:
            return sorted(db.scalars(sa.select(OBSERVATION_CLASSES.c.class_name).distinct()))

    @staticmethod
    def _observation_select():
        return sa.select(OBSERVATIONS, RUNS.c.run_id, RUNS.c.job_id, RUNS.c.process, RUNS.c.version,
                         RUNS.c.created).join(RUNS, RUNS.c.id == OBSERVATIONS.c.run)

    def _observations(self, db, rows):
        observations = [self._observation(row) for row in rows]
        keys = [o["key"] for o in observations]
        for table, column, name in ((OBSERVATION_CLASSES, OBSERVATION_CLASSES.c.class_name, "classes"),
                                    (OBSERVATION_SOURCES, OBSERVATION_SOURCES.c.source, "sources")):
            by_key = {}
            for chunk in range(0, len(keys), 500):
                query = sa.select(table.c.observation, column).where(table.c.observation.in_(keys[chunk:chunk + 500]))
                for observation, value in db.execute(query):
                    by_key.setdefault(observation, []).append(value)
            for o in observations:
                o[name] = sorted(by_key.get(o["key"], []))
        return observations

    @staticmethod
    def _run(row):
        return {"key": row["id"], "run_id": row["run_id"], "job_id": row["job_id"], "process": row["process"],
                "version": row["version"], "created": iso(row["created"]),
                "period_start": iso(row["period_start"]), "period_end": iso(row["period_end"]),
                "parameters": row["parameters"], "inputs": row["inputs"], "summary": row["summary"], "products": []}

    @staticmethod
    def _product(row):
        return {"key": row["id"], "kind": row["kind"], "name": row["name"], "source": row["source"],
                "href": row["href"], "media_type": row["media_type"], "period_start": iso(row["period_start"]),
                "period_end": iso(row["period_end"]), "footprint": from_column(row["footprint"]),
                "properties": row["properties"]}

    @staticmethod
    def _observation(row):
        observation = {name: row[name] for name in (
            "parcel", "parcel_key", "attributes", "area_ha", "kept_ha", "damaged_ha", "damaged_fraction",
            "score", "rank", "level", "status", "details", "run_id", "job_id", "process", "version")}
        observation.update(key=row["id"], run_key=row["run"], geometry=from_column(row["geometry"]),
                           period_start=iso(row["period_start"]), period_end=iso(row["period_end"]),
                           recorded=iso(row["created"]))
        return observation

