"""The results store: what every run produced, with provenance, and per-parcel damage to search.

- :mod:`.records`: what is recorded (:class:`Run`, :class:`Product`, :class:`Observation`).
- :mod:`.schema`, :mod:`.migrate`: the tables, created and migrated with Alembic.
- :mod:`.store`: :class:`ResultsStore`, recording and reading (SQLite file or PostgreSQL + PostGIS).
- :mod:`.search`: a search query as SQL.
"""
