"""What a protocol gives the client: :class:`Backend`, implemented by
:class:`~candela.client.ogcapi.OgcApi` and :class:`~candela.client.wps.Wps`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import requests

if TYPE_CHECKING:
    from .descriptions import Process
    from .jobs import Job
    from .outputs import Output


class Backend(Protocol):
    """One protocol spoken to one server: ``name`` (``ogcapi`` or ``wps``) and ``url`` (the
    service's address)."""

    name: str
    url: str
    session: requests.Session

    def process_ids(self) -> list[str]:
        """The identifiers of the processes offered."""

    def describe(self, process_ids: list[str]) -> list[Process]:
        """The descriptions of these processes."""

    def submit(self, process: Process, inputs: dict[str, Any]) -> Job:
        """Submit an asynchronous job; inputs as given to the client (not None)."""

    def job(self, reference: str) -> Job:
        """A job submitted earlier: its id or its url."""

    def status(self, job: Job) -> dict[str, Any]:
        """The job's status (see :meth:`Job.status`)."""

    def results(self, job: Job) -> dict[str, Output]:
        """A successful job's outputs."""

    def dismiss(self, job: Job) -> None:
        """Dismiss the job, or raise NotImplementedError."""
