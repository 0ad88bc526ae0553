"""Engines that map a function over blocks (processing windows) and give the results back in order.

An engine's :meth:`Engine.map` yields ``function(item)`` for each item, in the items' order,
each as soon as it and every item before it are done: a writer writes the results one after
the other, and a progress bar moves on with every finished task.

* :class:`SerialEngine` runs the function here, one item after the other (the default of
  every windowed algorithm).
* :class:`DaskEngine` runs each item as a task on a Dask cluster (``distributed``). The
  function must then be self-contained and picklable: a task re-opens its inputs by path and
  rebuilds what it needs, nothing open (rasters, loaded encoders) travels with it, and a large
  value every task needs (a fitted forest) is sent to each worker once (``shared``). At most
  ``in_flight`` tasks (default twice the cluster's threads) are submitted or held at once, so
  memory stays bounded whatever the number of windows (a 10980² tile has 121 of 1024²).

Engines say whether they run elsewhere (:attr:`Engine.remote`): a caller gives a local engine
a function over its open inputs, and a remote one a function over paths.

The windowed algorithms take an ``engine``: ChangeDetect's probability windows
(``changedetect.probability_window``), SARChangeDetect's tested windows (``sar.tested_window``),
Jpeg2Tiff's strips (``bandfiles.strip_by_path``) and FusionClassify's prediction windows
(``classify.classify_window``). The server's processes take their engine from ``[candela] dask``
(``processes/compute.py``); from a notebook or a script, with a scheduler's address::

    from candela.compute import DaskEngine

    with DaskEngine(address) as engine:
        summary = changedetect.detect(before, after, destination, ..., progress=progress,
                                      engine=engine)

The workers must import the same ``candela`` (and find the same models and input paths: a
shared file system) as the process that submits.
"""

import os
import socket
import time
from collections import deque
from contextlib import contextmanager

from ..errors import InputError


class Engine:
    """Maps a function over items, yielding the results in the items' order."""

    #: Whether the function runs in other processes (then it must be picklable and
    #: self-contained).
    remote = False

    def map(self, function, items, shared=None):
        """``function(item)`` for each item, in order; with ``shared``, ``function(shared,
        item)``: a large value every item needs (a fitted model), sent to a cluster once, not
        with each task."""
        raise NotImplementedError

    def close(self):
        """Release what the engine holds (nothing by default)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class SerialEngine(Engine):
    """Runs ``function`` here, on one item after the other."""

    def map(self, function, items, shared=None):
        for item in items:
            yield function(item) if shared is None else function(shared, item)


class DaskEngine(Engine):
    """Runs ``function`` on each item as a task of a Dask cluster.

    Parameters
    ----------
    address : str, optional
        The scheduler of an existing cluster (``tcp://host:8786``). Without one, the engine
        uses the current default client of this process if there is one, else starts a
        local cluster (closed with the engine).
    client : distributed.Client, optional
        A client to use instead (not closed with the engine).
    connect : callable, optional
        Makes the client when first needed (the engine's own, closed with it): for a cluster
        an address alone does not reach, e.g. one of dask-gateway.
    in_flight : int, optional
        Most tasks submitted and not yet collected at once (default: twice the cluster's
        threads, at least 2, read again every few seconds: an adaptive cluster that grows
        gets more tasks, and a scheduler sizing itself to the tasks it sees can grow).
    """

    #: Seconds between two readings of the cluster's threads.
    RESIZE_EVERY = 2.0

    remote = True

    def __init__(self, address=None, client=None, in_flight=None, connect=None):
        self.address, self.in_flight, self.connect = address, in_flight, connect
        self._client, self._owned = client, False

    @property
    def client(self):
        if self._client is None:
            import distributed

            if self.connect is not None:
                self._client, self._owned = self.connect(), True
            elif self.address is None:
                try:
                    self._client = distributed.default_client()
                except ValueError:
                    self._client, self._owned = distributed.Client(), True
            else:
                try:
                    self._client, self._owned = distributed.Client(self.address), True
                except OSError as error:  # the deployment's fault: say which scheduler
                    raise ClusterError(f"the Dask scheduler {self.address} could not be reached ({error})") from None
        return self._client

    def limit(self):
        """Tasks held at once: ``in_flight``, else twice the cluster's threads (at least 2)."""
        if self.in_flight:
            return max(1, int(self.in_flight))
        return max(2, 2 * sum(self.client.nthreads().values()))

    def map(self, function, items, shared=None):
        client = self.client
        limit, read_at = self.limit(), time.monotonic()
        # Scattered once to every worker; a future given to submit reaches the task as its value.
        first = () if shared is None else (client.scatter(shared, broadcast=True, hash=False),)
        pending = deque()
        try:
            for index, item in enumerate(items):
                # Earlier windows first: results are collected in order.
                pending.append(client.submit(function, *first, item, pure=False, priority=-index))
                if not self.in_flight and time.monotonic() - read_at > self.RESIZE_EVERY:
                    limit, read_at = self.limit(), time.monotonic()
                if len(pending) >= limit:
                    yield _collect(pending.popleft())
            while pending:
                yield _collect(pending.popleft())
        finally:
            for future in pending:  # the caller stopped early, or a task failed
                future.cancel()

    def close(self):
        if self._owned and self._client is not None:
            self._client.close()
        self._client, self._owned = None, False


def _collect(future):
    """The task's result (its exception raised here); dropping the future then frees it on
    the cluster."""
    return future.result()


def task_path(path):
    """``path`` as a task in another process opens it: absolute when it is a local file (a
    worker's working folder is not the caller's), else as given (a URL, a ``/vsi`` path)."""
    return os.path.abspath(path) if os.path.exists(path) else str(path)


class ClusterError(RuntimeError):
    """The cluster cannot do what the job's own process could: a deployment problem (a
    scheduler unreachable, workers that do not see the job's files), not the user's input."""


@contextmanager
def reopening():
    """Inside a task, opening the job's inputs again: they opened in the job's own process, so
    failing here is the cluster's fault (a :class:`ClusterError` naming this worker's host),
    never the user's input."""
    try:
        yield
    except (InputError, OSError) as error:
        raise ClusterError(f"a Dask worker on {socket.gethostname()} could not open again what the job opened "
                           f"({error}): the workers must read the same paths (a shared file system)") from error
