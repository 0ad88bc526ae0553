"""The results store: what every run produced, with provenance, and per-parcel damage to search.

- :mod:`.records`: what is recorded (:class:`Run`, :class:`Product`, :class:`Observation`).
- :mod:`.schema`, :mod:`.migrate`: the tables, created and migrated with Alembic.
- :mod:`.store`: :class:`ResultsStore`, recording and reading (a GeoPackage file or PostgreSQL + PostGIS); :mod:`.geometry` and `.sqltypes`: what makes the SQLite file a GeoPackage.
- :mod:`.search`: a search query as SQL.
"""
