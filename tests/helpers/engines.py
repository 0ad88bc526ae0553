"""Engines for the compute tests: a real local Dask cluster, and the window tasks run here."""

import logging
from contextlib import contextmanager
from importlib.util import find_spec

import pytest

from candela.compute import DaskEngine, SerialEngine

needs_distributed = pytest.mark.skipif(find_spec("distributed") is None,
                                       reason="distributed (Dask's cluster scheduler) is not installed")


@contextmanager
def local_cluster():
    """A real ``distributed.LocalCluster`` of two worker processes (one thread each) and its
    client: yields ``(cluster, client)``. Skips the test when distributed is not installed."""
    if find_spec("distributed") is None:
        pytest.skip("distributed (Dask's cluster scheduler) is not installed")
    import distributed

    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0",
                                  silence_logs=logging.ERROR) as cluster, distributed.Client(cluster) as client:
        yield cluster, client


class InlineRemote(SerialEngine):
    """Runs the self-contained (remote) window tasks here: the task functions without a cluster,
    so a test sees that a task re-opening its inputs by path computes what the serial pass does."""

    remote = True


def tasks_named(stream, name):
    """The tasks of a ``distributed.get_task_stream`` whose key names ``name`` (a function)."""
    return [task for task in stream.data if name in str(task["key"])]


def on_cluster(address, function, *args, **options):
    """``function(*args, engine=a DaskEngine on address, **options)``, the engine closed after."""
    with DaskEngine(address) as engine:
        return function(*args, engine=engine, **options)


#: The scheduler :func:`client_of_test_cluster` connects to (a test sets it).
TEST_SCHEDULER = {}


def client_of_test_cluster():
    """A ``[candela] dask = helpers.engines:client_of_test_cluster`` factory: a new client of
    the scheduler a test put in :data:`TEST_SCHEDULER`."""
    import distributed

    return distributed.Client(TEST_SCHEDULER["address"])


class FilesGone(InlineRemote):
    """Removes ``paths`` (files or folders) before the tasks run, as a cluster whose workers do
    not see the job's files: what the job opened here stays open, the tasks find nothing."""

    def __init__(self, *paths):
        self.paths = paths

    def map(self, function, items, shared=None):
        import shutil
        from pathlib import Path

        for path in map(Path, self.paths):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        return super().map(function, items, shared)


def execute_on_cluster(wps, candela_settings, cluster, xml, task):
    """Execute ``xml`` on the in-process server with ``[candela] dask`` set to ``cluster``'s
    scheduler (``(cluster, client)``, here and in the job's worker); assert it succeeded and
    that tasks of the function named ``task`` ran on the cluster. The response document."""
    import distributed

    from helpers.schemas import assert_valid
    from helpers.wps import NS, exception_text, post

    local, client = cluster
    candela_settings(dask=local.scheduler_address)
    with distributed.get_task_stream(client) as stream:
        doc = assert_valid(post(wps, xml).data)
    assert doc.xpath("//wps:ProcessSucceeded", namespaces=NS), exception_text(doc)
    assert tasks_named(stream, task), f"no {task} task ran on the cluster"
    return doc


def assert_ran_on_workers(client, tasks):
    """Every task of ``tasks`` (a task stream's) ran in a worker process of ``client``'s
    cluster, none in this one."""
    import os

    pids = client.run(os.getpid)
    assert {task["worker"] for task in tasks} <= set(pids) and os.getpid() not in pids.values()
