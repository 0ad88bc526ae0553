"""Where per-window work runs: in this process, or as tasks on a Dask cluster.

See :mod:`candela.compute.engines`.
"""

from .engines import ClusterError, DaskEngine, Engine, SerialEngine, reopening, task_path

__all__ = ["Engine", "SerialEngine", "DaskEngine", "ClusterError", "reopening", "task_path"]
