"""Where per-window work runs: in this process, or as tasks on a Dask cluster.

See :mod:`candela.compute.engines`.
"""

from .engines import DaskEngine, Engine, SerialEngine, task_path

__all__ = ["Engine", "SerialEngine", "DaskEngine", "task_path"]
