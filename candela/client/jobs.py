"""Jobs on the server, followed from Python, whichever protocol runs them."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .errors import ServerError
from .outputs import Output

if TYPE_CHECKING:
    from .backend import Backend

FINAL = ("successful", "failed", "dismissed")


class Job:
    """An asynchronous job: its ``id``, its ``url`` (OGC API: the job's address; WPS: its
    status document), :meth:`status`, :meth:`wait` and :meth:`result` (with a progress bar)
    and :meth:`cancel`."""

    def __init__(self, backend: Backend, job_id: str, process_id: str, url: str):
        self.backend, self.id, self.process_id, self.url = backend, job_id, process_id, url
        self._last: Any = None  # what the backend last read of it

    def __repr__(self) -> str:
        return f"<Job {self.id} of {self.process_id}>"

    def status(self) -> dict[str, Any]:
        """The job's status: ``status`` (``accepted``, ``running``, ``successful``, ``failed``
        or ``dismissed``), ``progress`` (0-100) and ``message``, and for a failed job the
        ``locator`` of the input at fault where the server names one."""
        return self.backend.status(self)

    def wait(self, poll: float = 1.0, progress: bool = True, timeout: float | None = None) -> dict[str, Any]:
        """Wait for the job's end; return its final status. A progress bar shows its
        percentage where tqdm is installed (in a notebook, its widget)."""
        bar = _bar(self, progress)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                status = self.status()
                if bar is not None:
                    bar.n = 100 if status["status"] == "successful" else int(status.get("progress") or 0)
                    bar.set_postfix_str((status.get("message") or "")[:60], refresh=True)
                if status["status"] in FINAL:
                    return status
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"job {self.id} still {status['status']} after {timeout} s")
                time.sleep(poll)
        finally:
            if bar is not None:
                bar.close()

    def result(self, poll: float = 1.0, progress: bool = True, timeout: float | None = None) -> dict[str, Output]:
        """Wait for the job's end (see :meth:`wait`); its outputs ``{name: Output}``, or the
        :class:`ServerError` of its failure (code ``JobFailed`` or ``JobDismissed``)."""
        status = self.wait(poll=poll, progress=progress, timeout=timeout)
        if status["status"] != "successful":
            raise ServerError("JobFailed" if status["status"] == "failed" else "JobDismissed",
                              status.get("message") or "", status.get("locator"))
        return self.backend.results(self)

    def cancel(self) -> None:
        """Dismiss the job: a queued or running one stops (OGC API); WPS 1.0.0 has no way to,
        and raises NotImplementedError."""
        self.backend.dismiss(self)


def _bar(job: Job, progress: bool) -> Any:
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=100, desc=f"{job.process_id} {job.id[:8]}", unit="%")
