"""The compute engine a job runs its windows on, as ``[candela] dask`` says.

Empty (the default): in the job's own worker process, one window after the other, so
``make run`` needs nothing more; on one machine this is also the fastest (docs/benchmarks.md,
"ChangeDetect on Dask": the job slots already share its cores, and a cluster per job adds its
transfers). ``local``: a Dask cluster started for the job on this machine, sized to it
(``distributed.LocalCluster`` defaults). Any other value is the address of an existing
scheduler (``tcp://scheduler:8786``: dask-kubernetes, dask-jobqueue on Slurm), whose workers
must import the same ``candela`` and read the same input paths and models (a shared file system).
``package.module:function`` names a function of the operator's that returns a
``distributed.Client`` (closed after the job): for clusters an address alone does not reach,
such as dask-gateway's.
"""

import importlib
import re

from candela.compute import DaskEngine, SerialEngine

from .config import option

#: ``package.module:function``: a client factory, told apart from ``tcp://host:port``.
FACTORY = re.compile(r"(?P<module>[A-Za-z_][\w.]*):(?P<function>[A-Za-z_]\w*)")


def engine_for_config():
    """A new engine (a context manager closing what it started) for one job."""
    value = option("dask", "")
    if not value:
        return SerialEngine()
    if value.lower() == "local":
        return DaskEngine()
    factory = FACTORY.fullmatch(value)
    if factory:
        return DaskEngine(connect=client_factory(factory["module"], factory["function"]))
    return DaskEngine(value)


def client_factory(module, function):
    """The function ``module:function`` of ``[candela] dask``; a clear error when it is not one."""
    try:
        found = getattr(importlib.import_module(module), function)
    except (ImportError, AttributeError) as error:
        raise RuntimeError(f"[candela] dask = {module}:{function}: no such function ({error})") from None
    if not callable(found):
        raise RuntimeError(f"[candela] dask = {module}:{function} is not a function")
    return found
