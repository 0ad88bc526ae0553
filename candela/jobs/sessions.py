"""Active-learning sessions: the labels a user gave round after round, kept in the job store.

A session holds its labelled samples (a GeoJSON FeatureCollection in longitude/latitude,
each feature's class in the property ``class``) and one record per round (its job, the
number of labels, the accuracy reached): the learning curve. A round adds its new labels and
its record in one transaction; a sample sent again (same geometry) takes its newest class,
so a corrected label replaces the old one instead of contradicting it.
"""

import json
import time
import uuid

import sqlalchemy as sa

from .store import METADATA

SESSIONS = sa.Table(
    "candela_sessions", METADATA,
    sa.Column("session_id", sa.String(36), primary_key=True),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("updated", sa.Float, nullable=False),
    sa.Column("labels", sa.Text, nullable=False),  # GeoJSON FeatureCollection
    sa.Column("rounds", sa.Text, nullable=False),  # JSON list
)


class UnknownSession(KeyError):
    """No session has this id."""


class SessionStore:
    """Sessions in the job database (the engine of a :class:`~candela.jobs.store.JobStore`)."""

    def __init__(self, engine):
        self.engine = engine
        SESSIONS.create(engine, checkfirst=True)

    def get(self, session_id):
        """``{"session_id", "labels": [features], "rounds": [...]}``; UnknownSession if none."""
        try:
            uuid.UUID(str(session_id))
        except ValueError:
            raise UnknownSession(session_id) from None
        with self.engine.connect().execution_options(candela_read=True) as db:
            row = db.execute(sa.select(SESSIONS).where(SESSIONS.c.session_id == str(session_id))).mappings().first()
        if row is None:
            raise UnknownSession(session_id)
        return {"session_id": row["session_id"], "labels": json.loads(row["labels"])["features"],
                "rounds": json.loads(row["rounds"])}

    def add_round(self, session_id, features, record):
        """Add a round's labels (GeoJSON features) and record to a session, created when
        ``session_id`` is None; return the session's id and its rounds."""
        now = time.time()
        with self.engine.begin() as db:
            row = None
            if session_id is not None:
                query = sa.select(SESSIONS).where(SESSIONS.c.session_id == str(session_id))
                if db.dialect.name == "postgresql":
                    query = query.with_for_update()  # rounds of one session add up, never overwrite
                row = db.execute(query).mappings().first()
                if row is None:
                    raise UnknownSession(session_id)
            labels = merged(json.loads(row["labels"])["features"] if row else [], features)
            rounds = json.loads(row["rounds"]) if row else []
            rounds.append({"round": len(rounds) + 1, **record})
            values = dict(updated=now, labels=json.dumps({"type": "FeatureCollection", "features": labels}),
                          rounds=json.dumps(rounds))
            if row is None:
                session_id = str(uuid.uuid4())
                db.execute(SESSIONS.insert().values(session_id=session_id, created=now, **values))
            else:
                db.execute(SESSIONS.update().where(SESSIONS.c.session_id == str(session_id)).values(**values))
        return str(session_id), rounds


def merged(earlier, newer):
    """Features of both lists, one per geometry, the newer's class winning."""
    by_geometry = {}
    for feature in [*earlier, *newer]:
        by_geometry[json.dumps(feature["geometry"], sort_keys=True)] = feature
    return list(by_geometry.values())
