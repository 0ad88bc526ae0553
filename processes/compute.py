"""The compute engine a job runs its windows on, as ``[candela] dask`` says.

Empty (the default): in the job's own worker process, one window after the other, so
``make run`` needs nothing more; on one machine this is also the fastest (docs/benchmarks.md,
"ChangeDetect on Dask": the job slots already share its cores, and a cluster per job adds its
transfers). ``local``: a Dask cluster started for the job on this machine, sized to it
(``distributed.LocalCluster`` defaults). Any other value is the address of an existing
scheduler (``tcp://scheduler:8786``: dask-kubernetes, dask-jobqueue on Slurm), whose workers
must import the same ``candela`` and read the same input paths and models (a shared file system).
"""

from candela.compute import DaskEngine, SerialEngine

from .config import option


def engine_for_config():
    """A new engine (a context manager closing what it started) for one job."""
    address = option("dask", "")
    if not address:
        return SerialEngine()
    return DaskEngine(None if address == "local" else address)
