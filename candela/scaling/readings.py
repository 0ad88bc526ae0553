"""What the monitor measures: small readings, each answering None when it cannot be taken.

None is a real answer, not an error: a load that could not be read makes the decision hold
(:func:`.decision.decide`), and a missing optional reading is exported as missing. A reading
never raises, so one broken source cannot stop the monitor's loop.
"""

import logging

from candela.scaling.decision import Load

LOG = logging.getLogger("candela.monitor")

# The job store's status names (candela.jobs.store), repeated so that reading them needs no
# SQLAlchemy import here.
ACCEPTED, RUNNING = "accepted", "running"


def job_load(store):
    """The jobs waiting and running in ``store`` (a :class:`candela.jobs.store.JobStore`), and
    the workers busy with one (distinct hosts running a job, draining hosts left out); None when the store cannot be read."""
    if store is None:
        return None
    try:
        counts = store.counts()
        hosts = {job["host"] for job in store.jobs(status=RUNNING) if job.get("host")}
        # A draining host is on its way out (the OpenStack scaler no longer counts it): its
        # jobs must not hold up a worker count that replaces it.
        hosts -= set(store.draining_hosts())
    except Exception as error:  # any database failure: the decision holds
        LOG.warning("job store unreadable, holding: %s", error)
        return None
    return Load(accepted=counts.get(ACCEPTED, 0), running=counts.get(RUNNING, 0), busy_workers=len(hosts))


def host_load():
    """This host's CPU and memory use in percent, ``{"cpu": .., "memory": ..}``, or None."""
    try:
        import psutil

        # interval=None: the use since the previous call (the monitor's step), not a blocking sample.
        return {"cpu": psutil.cpu_percent(interval=None), "memory": psutil.virtual_memory().percent}
    except Exception as error:
        LOG.warning("host load unreadable: %s", error)
        return None


def dask_wanted(address, timeout=5):
    """The worker count a Dask scheduler at ``address`` wants (its adaptive target), or None
    when no address is given, ``distributed`` is not installed or the scheduler cannot be reached."""
    if not address:
        return None
    try:
        from distributed import Client  # optional: only where a Dask cluster is run
    except ImportError:
        LOG.warning("dask scheduler %s given but the distributed package is not installed", address)
        return None
    try:
        with Client(address, timeout=timeout) as client:
            return int(client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.adaptive_target()))
    except Exception as error:
        LOG.warning("dask scheduler %s unreachable: %s", address, error)
        return None


class LazyStore:
    """A job store opened on first use and again after a failed opening: a monitor started
    while its database is down holds until it is up, instead of holding forever."""

    def __init__(self, url, opener=None):
        self.url = url
        self.opener = opener
        self.store = None

    def _open(self):
        if self.store is None:
            if self.opener is None:
                from candela.jobs.store import JobStore  # SQLAlchemy, only when the store is read

                self.opener = JobStore
            self.store = self.opener(self.url)  # raises while the database is unreachable
        return self.store

    def __getattr__(self, name):
        # Every JobStore method (counts, jobs, drain, running_on, ...) on the store once open.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._open(), name)
