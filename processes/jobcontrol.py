"""The job store and executor of this server process, and ending jobs from outside them.

One store and one executor per job database in a process (:func:`executor_for_config`); the
executor starts each job's worker (:func:`worker_command`) and tells WPS clients of a job it
ended (:func:`job_ended`); :func:`dismiss` cancels a job for an operator or a client.
"""

import os
import shutil
import sys

from pywps import configuration

from candela.jobs import JobStore
from candela.jobs.executor import Executor, stop_worker
from candela.jobs.store import this_host

from . import config
from .jobfiles import output_folder, remove_work, status_document
from .statusdoc import mark_failed

_STORES, _EXECUTORS = {}, {}  # one of each per job database in a process


def job_ended(job, message):
    """The executor ended a job (its worker died, hung, or ran too long): tell WPS clients."""
    if job["mode"] == "async":
        mark_failed(status_document(job["job_id"]), message)
    remove_work(job["job_id"])
    shutil.rmtree(output_folder(job["job_id"]), ignore_errors=True)


def dismiss(job_id, message="Dismissed at the operator's request"):
    """Cancel a queued or running job; say what happened. A worker on this host is stopped
    here and now, before the status document says so (else its last progress report could
    land after it); one on another host is stopped by its executor."""
    store = store_for_config()
    job = store.state(job_id)
    if job is None:
        return f"No job {job_id}"
    if not store.dismiss(job_id, message):
        return f"Job {job_id} had already ended ({store.state(job_id)['status']})"
    job = store.state(job_id)
    if job["host"] == host_for_config() and job["pid"]:
        stop_worker(job["pid"], job_id)
    job_ended(job, message)
    return f"Job {job_id} dismissed"


def host_for_config():
    """The name of this machine in the job database: ``[candela] host``, else its host name."""
    return config.option("host", "") or this_host()


def worker_command(job):
    """How a worker process is started for ``job`` (see :mod:`processes.worker`)."""
    options = [arg for path in config.LOADED for arg in ("--config", path)]
    # -P: the worker's working folder (the data folder) is not put on its import path.
    return [sys.executable, "-P", "-m", "processes.worker", *options, "--attempt", str(job["attempts"]), job["job_id"]]


def store_for_config():
    """The job store of the loaded configuration (one per database in a process)."""
    url = configuration.get_config_value("logging", "database")
    if url not in _STORES:
        _STORES[url] = JobStore(url)
    return _STORES[url]


def executor_for_config():
    """The job store and executor of the loaded configuration (one each per database)."""
    store = store_for_config()
    if store.url not in _EXECUTORS:
        # Workers import the same code as this process, tests' own processes included.
        # And where this package is, whatever the server's own path held (-P: not the cwd).
        path = os.pathsep.join(dict.fromkeys([*(p for p in sys.path if p and os.path.isabs(p) and os.path.isdir(p)),
                                              str(config.PACKAGE.parent)]))
        _EXECUTORS[store.url] = Executor(
            store, worker_command,
            slots=int(configuration.get_config_value("server", "parallelprocesses")),
            walltime=config.seconds("walltime", "6h"),
            heartbeat_timeout=config.seconds("heartbeattimeout", "120s"),
            recovery=config.option("recovery", "requeue"),
            max_attempts=int(config.option("maxattempts", "2")),
            on_ended=job_ended, cwd=config.HOME, host=host_for_config(),
            env={**os.environ, "PYTHONPATH": path},
        )
    return store, _EXECUTORS[store.url]
