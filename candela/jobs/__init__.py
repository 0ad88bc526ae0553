"""Jobs: the store that is their queue and record, and the executor that runs them.

Nothing here knows a protocol: a job is a process identifier, a request (JSON the protocol
layer understands), and a state. WPS today, OGC API - Processes and Dask next, use the same
store and executor, so every protocol gets the same guarantee: a job accepted is a job that
ends, successful or failed.
"""

from .store import FINAL, JobStore, QueueFull

__all__ = ["FINAL", "JobStore", "QueueFull"]
