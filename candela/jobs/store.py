"""The job store: one table that is both the queue and the record of every job.

A job is ``accepted`` (queued), then claimed by exactly one worker (``running``), and ends
``successful``, ``failed`` or ``dismissed`` (the status names of OGC API - Processes). Every
change of state is one conditional UPDATE, so two servers racing for a job, or a worker
finishing while a reaper fails it, cannot both win.

A host can be drained (:meth:`JobStore.drain`, a row of ``candela_hosts``): it then claims
no job, so the autoscaler can remove its node once its running jobs have ended.

Backends: a file SQLite database (embedded default) or PostgreSQL, through SQLAlchemy.
SQLite runs in WAL mode with a busy timeout, and every transaction but the store's plain
reads starts with ``BEGIN IMMEDIATE``: a transaction that read and then wants to write would
otherwise fail at once with "database is locked" when another process wrote in between (the
busy timeout does not apply to that upgrade). Taking the write lock up front makes writers
queue instead; readers never wait in WAL mode.
"""

import json
import socket
import sqlite3
import time
import uuid

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

ACCEPTED, RUNNING, SUCCESSFUL, FAILED, DISMISSED = "accepted", "running", "successful", "failed", "dismissed"
FINAL = (SUCCESSFUL, FAILED, DISMISSED)
UNFINISHED = (ACCEPTED, RUNNING)
#: Seconds a SQLite connection waits for another writer before giving up.
SQLITE_BUSY_TIMEOUT = 20

METADATA = sa.MetaData()
JOBS = sa.Table(
    "candela_jobs", METADATA,
    sa.Column("job_id", sa.String(36), primary_key=True),
    sa.Column("process", sa.String(255), nullable=False),
    sa.Column("protocol", sa.String(16), nullable=False),
    sa.Column("mode", sa.String(8), nullable=False),  # async or sync (a client waits on the request)
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("message", sa.Text, nullable=False, default=""),
    sa.Column("progress", sa.Integer, nullable=False, default=0),
    sa.Column("request", sa.Text, nullable=False),  # JSON, the protocol layer's own
    sa.Column("result", sa.Text),  # JSON, the protocol layer's own
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("started", sa.Float),
    sa.Column("finished", sa.Float),
    sa.Column("heartbeat", sa.Float),
    sa.Column("host", sa.String(255)),
    sa.Column("pid", sa.Integer),  # the worker's
    sa.Column("supervisor", sa.Integer),  # pid of the executor's process that started the worker
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Index("candela_jobs_queue", "status", "created"),
)

#: Hosts being drained before their node is removed (by the autoscaler): a draining host claims
#: no job, its running jobs go on. A row exists only while the host drains; the table is new
#: but ``create_all`` adds it to an existing database, so no migration is needed.
HOSTS = sa.Table(
    "candela_hosts", METADATA,
    sa.Column("host", sa.String(255), primary_key=True),
    sa.Column("draining", sa.Boolean, nullable=False, default=True),
    sa.Column("since", sa.Float, nullable=False),
)


#: The columns of a job's state (all but its request and result).
STATE = [c for c in JOBS.c if c.name not in ("request", "result")]


class QueueFull(Exception):
    """The queue holds as many waiting jobs as allowed."""


def new_job_id():
    """A random, unguessable job id (UUID4; never time-based)."""
    return str(uuid.uuid4())


def this_host():
    return socket.gethostname()


@event.listens_for(Engine, "connect")
def _sqlite_connect(dbapi_connection, connection_record):
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (below)
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT * 1000}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(connection):
    if connection.dialect.name == "sqlite":
        # Readers in WAL mode neither wait nor block: only the store's reads say they are reads.
        reading = connection.get_execution_options().get("candela_read")
        connection.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")


def create_engine(url, **options):
    """An engine for the job database (or another of ours: ``options`` go to SQLAlchemy). Applies
    to PyWPS's own SQLite engine too (the listeners above are registered on every Engine), so its
    request log never hits "database is locked"."""
    if url.startswith("sqlite"):
        if ":memory:" in url or url.rstrip("/") == "sqlite:":
            raise ValueError("the job database must be a file or a server: in memory, workers cannot share it")
        return sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT},
                                **options)
    return sa.create_engine(url, pool_pre_ping=True, **options)


class JobStore:
    """Jobs in a SQL database (SQLite file or PostgreSQL), safe across threads and processes."""

    def __init__(self, url, engine=None):
        self.url = url
        self.engine = engine or create_engine(url)
        METADATA.create_all(self.engine)

    # Submitting and reading

    def submit(self, process, request, mode="async", protocol="wps", max_queued=None, job_id=None):
        """Queue a job; return its id. QueueFull when ``max_queued`` jobs already wait."""
        job_id = job_id or new_job_id()
        with self.engine.begin() as db:
            self._serialise(db)
            self.check_room(max_queued, db)
            db.execute(JOBS.insert().values(
                job_id=job_id, process=process, protocol=protocol, mode=mode, status=ACCEPTED,
                message="Accepted, waiting for a worker", progress=0, request=json.dumps(request),
                created=time.time(), attempts=0))
        return job_id

    def check_room(self, max_queued, db=None):
        """QueueFull when ``max_queued`` jobs already wait (None or negative: no limit)."""
        if max_queued is None or max_queued < 0:
            return
        query = sa.select(sa.func.count()).select_from(JOBS).where(JOBS.c.status == ACCEPTED)
        if db is None:
            with self._reading() as db:
                waiting = db.scalar(query)
        else:
            waiting = db.scalar(query)
        if waiting >= max_queued:
            raise QueueFull(f"{waiting} jobs are waiting, the most this server queues")

    def get(self, job_id):
        """The job as a dict (``request`` and ``result`` decoded), or None."""
        with self._reading() as db:
            row = db.execute(sa.select(JOBS).where(JOBS.c.job_id == str(job_id))).mappings().first()
        return _decoded(row)

    def jobs(self, status=None, process=None, limit=None, offset=0):
        """The states of jobs (without request and result, which may be large: see :meth:`get`),
        newest first, optionally of some statuses (a name or a tuple) or one process; a page of
        them with ``limit`` and ``offset``."""
        query = sa.select(*STATE).order_by(JOBS.c.created.desc(), JOBS.c.job_id).limit(limit).offset(offset)
        if status:
            query = query.where(JOBS.c.status.in_([status] if isinstance(status, str) else status))
        if process:
            query = query.where(JOBS.c.process == process)
        with self._reading() as db:
            return [dict(row) for row in db.execute(query).mappings()]

    def ended_before(self, cutoff):
        """Ids of the jobs that ended before ``cutoff`` (epoch seconds)."""
        query = sa.select(JOBS.c.job_id).where(JOBS.c.status.in_(FINAL), JOBS.c.finished < cutoff)
        with self._reading() as db:
            return list(db.scalars(query))

    def counts(self):
        """How many jobs are in each status."""
        query = sa.select(JOBS.c.status, sa.func.count()).group_by(JOBS.c.status)
        with self._reading() as db:
            return dict(db.execute(query).all())

    # Running. A run of a job is its attempt number: a worker, or a judgement made on what was
    # read of one run, changes the job only while that run is current (a re-queued and
    # re-claimed job is another run).

    def claim(self, host, slots, supervisor):
        """Atomically take the oldest queued job for ``host`` if it runs fewer than ``slots``
        jobs, for the executor in process ``supervisor``; return its state, or None."""
        now = time.time()
        with self.engine.begin() as db:
            self._serialise(db)
            # In the claim's transaction: a node drained just before it is never handed a job.
            if db.scalar(sa.select(HOSTS.c.draining).where(HOSTS.c.host == host)):
                return None
            running = db.scalar(sa.select(sa.func.count()).select_from(JOBS)
                                .where(JOBS.c.status == RUNNING, JOBS.c.host == host))
            if running >= slots:
                return None
            job_id = db.scalar(sa.select(JOBS.c.job_id).where(JOBS.c.status == ACCEPTED)
                               .order_by(JOBS.c.created, JOBS.c.job_id).limit(1))
            if job_id is None:
                return None
            taken = db.execute(JOBS.update().where(JOBS.c.job_id == job_id, JOBS.c.status == ACCEPTED).values(
                status=RUNNING, started=now, heartbeat=now, host=host, pid=None, supervisor=supervisor,
                attempts=JOBS.c.attempts + 1, message="Starting", progress=0)).rowcount
        return self.state(job_id) if taken == 1 else None

    def state(self, job_id):
        """A job's state without its request and result (what executors look at often)."""
        with self._reading() as db:
            row = db.execute(sa.select(*STATE).where(JOBS.c.job_id == str(job_id))).mappings().first()
        return dict(row) if row else None

    def set_pid(self, job_id, pid, attempt):
        return self._update(job_id, (RUNNING,), attempt, pid=pid)

    def beat(self, job_id, attempt):
        """Record that the run's worker is alive; False when that run is no longer current."""
        return self._update(job_id, (RUNNING,), attempt, heartbeat=time.time())

    def progress(self, job_id, percent, message, attempt):
        return self._update(job_id, (RUNNING,), attempt, progress=int(percent), message=str(message)[:2000],
                            heartbeat=time.time())

    def finish(self, job_id, status, message, result=None, attempt=None):
        """End a job that has not ended (in run ``attempt`` when given); False when it already
        had, or that run is no longer current: nothing changes then."""
        if status not in FINAL:
            raise ValueError(f"{status!r} is not a final status")
        values = dict(status=status, message=str(message)[:2000], finished=time.time())
        if status == SUCCESSFUL:
            values["progress"] = 100
        if result is not None:
            values["result"] = json.dumps(result)
        return self._update(job_id, UNFINISHED, attempt, **values)

    def requeue(self, job_id, attempt):
        """Put a running job whose worker is gone back in the queue."""
        return self._update(job_id, (RUNNING,), attempt, status=ACCEPTED, started=None, heartbeat=None, host=None,
                            pid=None, supervisor=None, progress=0, message="Re-queued after its worker stopped")

    def dismiss(self, job_id, message="Dismissed"):
        """End a job at a user's request; its worker, if any, is stopped by its executor."""
        return self.finish(job_id, DISMISSED, message)

    def stale(self, before):
        """States of the running jobs whose last heartbeat is older than ``before`` (epoch seconds)."""
        return self._states(JOBS.c.status == RUNNING, JOBS.c.heartbeat < before)

    def running_on(self, host):
        """States of the jobs running on ``host``."""
        return self._states(JOBS.c.status == RUNNING, JOBS.c.host == host)

    # Draining (a node about to be removed finishes its jobs and takes no new one)

    def drain(self, host):
        """Stop ``host`` claiming jobs (its running jobs go on); True when it was not draining."""
        with self.engine.begin() as db:
            self._serialise(db)  # the same lock as claim(): a claim sees the drain or precedes it
            draining = db.scalar(sa.select(HOSTS.c.draining).where(HOSTS.c.host == host))
            if draining:
                return False
            if draining is None:
                db.execute(HOSTS.insert().values(host=host, draining=True, since=time.time()))
            else:  # a row left not draining (by hand): draining again from now
                db.execute(HOSTS.update().where(HOSTS.c.host == host).values(draining=True, since=time.time()))
            return True

    def undrain(self, host):
        """Let ``host`` claim jobs again; True when it was draining."""
        with self.engine.begin() as db:
            return db.execute(HOSTS.delete().where(HOSTS.c.host == host)).rowcount == 1

    def draining_hosts(self):
        """``{host: since}`` (epoch seconds) of the hosts draining."""
        with self._reading() as db:
            return dict(db.execute(sa.select(HOSTS.c.host, HOSTS.c.since).where(HOSTS.c.draining)).all())

    def delete(self, job_ids):
        """Remove ended jobs; return how many."""
        job_ids = [str(j) for j in job_ids]
        if not job_ids:
            return 0
        with self.engine.begin() as db:
            return db.execute(JOBS.delete().where(JOBS.c.job_id.in_(job_ids), JOBS.c.status.in_(FINAL))).rowcount

    # Internals

    def _reading(self):
        return self.engine.connect().execution_options(candela_read=True)

    def _update(self, job_id, statuses, attempt=None, **values):
        where = [JOBS.c.job_id == str(job_id), JOBS.c.status.in_(statuses)]
        if attempt is not None:
            where.append(JOBS.c.attempts == attempt)
        with self.engine.begin() as db:
            changed = db.execute(JOBS.update().where(*where).values(**values)).rowcount
        return changed == 1

    def _states(self, *where):
        with self._reading() as db:
            return [dict(row) for row in db.execute(sa.select(*STATE).where(*where)).mappings()]

    def _serialise(self, db):
        """Make counting and then writing atomic. SQLite: BEGIN IMMEDIATE already holds the
        write lock. PostgreSQL: a transaction-scoped advisory lock."""
        if db.dialect.name == "postgresql":
            db.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('candela_jobs'))"))


def _decoded(row):
    if row is None:
        return None
    job = dict(row)
    job["request"] = json.loads(job["request"]) if job["request"] else None
    job["result"] = json.loads(job["result"]) if job["result"] else None
    return job
