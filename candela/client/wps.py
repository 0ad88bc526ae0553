"""The client over WPS 1.0.0: GetCapabilities and DescribeProcess (KVP), Execute (XML POST,
asynchronous), jobs followed through their status document (``statusLocation``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests

from . import wpsxml
from .descriptions import Process
from .errors import ServerError, raise_for
from .jobs import Job
from .outputs import Output


class Wps:
    """A WPS 1.0.0 service at ``url`` (``http://host/wps``)."""

    name = "wps"

    def __init__(self, url: str, session: requests.Session, process_ids: list[str] | None = None):
        self.url, self.session = url, session
        self._ids = process_ids
        self._processes: dict[str, Process] = {}  # those described, for errors naming an input's twin

    @classmethod
    def probe(cls, url: str, session: requests.Session) -> Wps | None:
        """The service at ``url`` if it answers GetCapabilities as WPS there, else None."""
        response = session.get(url, params={"service": "WPS", "request": "GetCapabilities",
                                            "AcceptVersions": "1.0.0"}, timeout=60)
        if not response.ok:
            return None
        try:
            capabilities = wpsxml.parse(response.content)
        except ServerError:
            return None
        if capabilities.tag != f"{{{wpsxml.WPS}}}Capabilities":
            return None
        return cls(url, session, wpsxml.process_ids(capabilities))

    # Processes

    def process_ids(self) -> list[str]:
        if self._ids is None:
            self._ids = wpsxml.process_ids(self._get(request="GetCapabilities", AcceptVersions="1.0.0"))
        return self._ids

    def describe(self, process_ids: list[str]) -> list[Process]:
        found = wpsxml.processes(self._get(request="DescribeProcess", version="1.0.0",
                                           identifier=",".join(process_ids)))
        self._processes.update((p.id, p) for p in found)
        return found

    # Jobs

    def submit(self, process: Process, inputs: dict[str, Any]) -> Job:
        self._processes[process.id] = process
        response = self.session.post(self.url, data=wpsxml.execute_request(process, inputs), timeout=300,
                                     headers={"Content-Type": "text/xml; charset=utf-8"})
        try:
            raise_for(response)
            answer = wpsxml.parse(response.content)
        except ServerError as error:
            error.locator = error.locator and self._input_name(process.id, error.locator)
            raise
        location = wpsxml.status_location(answer) or ""
        name = urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1]
        job = Job(self, name.removesuffix(".xml") or "sync", process.id, location)
        job._last = answer  # a server that ran it at once answered its end
        return job

    def job(self, reference: str) -> Job:
        if "/" not in reference:
            raise ValueError("a WPS job is followed through its status document: give its URL "
                             "(the statusLocation, Job.url), not its id")
        job = Job(self, urlsplit(reference).path.rsplit("/", 1)[-1].removesuffix(".xml"), "?", reference)
        self.status(job)
        job.process_id = wpsxml.process_of(job._last) or "?"
        return job

    def status(self, job: Job) -> dict[str, Any]:
        if job.url:
            response = self.session.get(job.url, timeout=30)
            raise_for(response)
            job._last = wpsxml.parse(response.content)
        found = {"jobID": job.id, "processID": job.process_id, **wpsxml.status(job._last)}
        if found.get("locator"):
            found["locator"] = self._input_name(job.process_id, found["locator"])
        return found

    def results(self, job: Job) -> dict[str, Output]:
        if job._last is None or wpsxml.status(job._last)["status"] != "successful":
            self.status(job)
        return {name: Output(self.session, name, href=href, value=value, media_type=media)
                for name, href, value, media in wpsxml.outputs(job._last)}

    def dismiss(self, job: Job) -> None:
        raise NotImplementedError("WPS 1.0.0 has no way to cancel a job; connect with protocol='ogcapi' "
                                  "where the server offers OGC API - Processes")

    def _get(self, **params: str) -> Any:
        response = self.session.get(self.url, params={"service": "WPS", **params}, timeout=60)
        raise_for(response)
        return wpsxml.parse(response.content)

    def _input_name(self, process_id: str, name: str) -> str:
        """The input the client knows for ``name``: a file input for its ``_ref`` twin."""
        process = self._processes.get(process_id)
        return next((p.name for p in process.inputs if p.twin == name), name) if process else name
