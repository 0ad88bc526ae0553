"""The client over OGC API - Processes 1.0: JSON descriptions, execution with
``Prefer: respond-async``, jobs at ``/jobs/{id}`` (dismissed with DELETE), results by link
or by value."""

from __future__ import annotations

import base64
from typing import Any

import requests

from .descriptions import OutputSpec, Parameter, Process
from .errors import raise_for
from .inputs import Upload, file_value
from .jobs import Job
from .outputs import Output


class OgcApi:
    """OGC API - Processes at ``url`` (``http://host/ogcapi``)."""

    name = "ogcapi"

    def __init__(self, url: str, session: requests.Session, processes: list[dict[str, Any]] | None = None):
        self.url, self.session = url.rstrip("/"), session
        self._summaries = processes

    @classmethod
    def probe(cls, url: str, session: requests.Session) -> OgcApi | None:
        """The API at ``url`` if it answers a process list there, else None."""
        try:
            response = session.get(f"{url.rstrip('/')}/processes", params={"f": "json"}, timeout=60)
            listing = response.json() if response.ok else None
        except ValueError:
            return None
        if not isinstance(listing, dict) or not isinstance(listing.get("processes"), list):
            return None
        return cls(url, session, listing["processes"])

    # Processes

    def process_ids(self) -> list[str]:
        if self._summaries is None:
            self._summaries = self._get("/processes")["processes"]
        return [summary["id"] for summary in self._summaries]

    def describe(self, process_ids: list[str]) -> list[Process]:
        return [process_from_json(self._get(f"/processes/{process_id}")) for process_id in process_ids]

    # Jobs

    def submit(self, process: Process, inputs: dict[str, Any]) -> Job:
        """A file input given as a local file is embedded (text for JSON and XML formats,
        base64 otherwise); a URL is ``{"href": ...}``; other text (a server path) is sent as is."""
        body = {"inputs": {name: _value(value, process.input(name)) for name, value in inputs.items()}}
        response = self.session.post(f"{self.url}/processes/{process.id}/execution", json=body,
                                     headers={"Prefer": "respond-async"}, timeout=300)
        raise_for(response)
        location = response.headers["Location"]
        return Job(self, location.rstrip("/").rsplit("/", 1)[1], process.id, location)

    def job(self, reference: str) -> Job:
        url = reference if "/" in reference else f"{self.url}/jobs/{reference}"
        job = Job(self, url.rstrip("/").rsplit("/", 1)[1], "?", url)
        job.process_id = self.status(job).get("processID", "?")
        return job

    def status(self, job: Job) -> dict[str, Any]:
        response = self.session.get(job.url, params={"f": "json"}, timeout=30)
        raise_for(response)
        status: dict[str, Any] = response.json()
        return status

    def results(self, job: Job) -> dict[str, Output]:
        response = self.session.get(f"{job.url}/results", params={"f": "json"}, timeout=60)
        raise_for(response)
        return {name: _output(self.session, name, answer) for name, answer in response.json().items()}

    def dismiss(self, job: Job) -> None:
        raise_for(self.session.delete(job.url, timeout=30))

    def _get(self, path: str) -> Any:
        response = self.session.get(f"{self.url}{path}", params={"f": "json"}, timeout=60)
        raise_for(response)
        return response.json()


def process_from_json(document: dict[str, Any]) -> Process:
    """A Process from its OGC API description."""
    inputs = tuple(_parameter(name, described) for name, described in document.get("inputs", {}).items())
    outputs = tuple(OutputSpec(name, described.get("title", name), _media_types(described.get("schema", {})))
                    for name, described in document.get("outputs", {}).items())
    return Process(document["id"], document.get("title", ""), document.get("description", ""),
                   document.get("version", ""), inputs, outputs)


def _parameter(name: str, described: dict[str, Any]) -> Parameter:
    schema = described.get("schema", {})
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        schema = schema["items"]
    formats = _media_types(schema)
    max_occurs = described.get("maxOccurs", 1)
    return Parameter(
        name, described.get("title", name), described.get("description", ""),
        "file" if formats else schema.get("type", "string"), schema.get("default"),
        tuple(schema.get("enum", ())), described.get("minOccurs", 1) > 0,
        max_occurs if isinstance(max_occurs, int) else 1_000_000,  # "unbounded"
        schema.get("minimum"), schema.get("maximum"), formats)


def _media_types(schema: dict[str, Any]) -> tuple[str, ...]:
    variants = schema.get("anyOf") or schema.get("oneOf") or [schema]
    return tuple(v["contentMediaType"] for v in variants if isinstance(v, dict) and "contentMediaType" in v)


def _value(value: Any, parameter: Parameter | None) -> Any:
    if isinstance(value, (list, tuple)):
        return [_value(v, parameter) for v in value]
    if parameter is None or parameter.kind != "file":
        return value
    given = file_value(value, parameter.formats)
    if isinstance(given, Upload):
        if given.is_text:
            return {"value": given.text(), "mediaType": given.media_type}
        return {"value": base64.b64encode(given.data()).decode("ascii"), "mediaType": given.media_type,
                "encoding": "base64"}
    return {"href": given.text} if given.is_url else given.text


def _output(session: requests.Session, name: str, answer: Any) -> Output:
    if not isinstance(answer, dict) or not ({"href", "value"} & answer.keys()):
        return Output(session, name, value=answer)  # a bare value
    value, media = answer.get("value"), answer.get("type") or answer.get("mediaType")
    if answer.get("encoding") == "base64" and isinstance(value, str):
        value = base64.b64decode(value)
    return Output(session, name, href=answer.get("href"), value=value, media_type=media)
