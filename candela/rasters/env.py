"""GDAL's environment: how many threads it may use."""

import os


def gdal_threads():
    """Threads GDAL may use: ``$CANDELA_THREADS``, else all CPUs.

    Once GDAL's thread pool has run in a process, processes forked from it deadlock in GDAL:
    a program that forks after converting (a test suite serving WPS in-process) sets 1.
    """
    return os.environ.get("CANDELA_THREADS") or "ALL_CPUS"
