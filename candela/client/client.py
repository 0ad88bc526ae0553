"""The client: a server's processes as Python methods, over OGC API - Processes or WPS."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import requests

from .backend import Backend
from .descriptions import Process, method_name
from .jobs import Job
from .ogcapi import OgcApi
from .wps import Wps

#: Paths of a CANDELA server's services, any of which may be given instead of its base URL.
SERVICE_PATHS = ("/ogcapi", "/qgis/wps", "/wps")
PROTOCOLS = ("auto", "ogcapi", "wps")


class Client:
    """A processing server at ``url``: a CANDELA server's base URL (``http://127.0.0.1:5000``)
    or any of its services' (``.../ogcapi``, ``.../wps``, ``.../qgis/wps``), or another
    server's OGC API - Processes or WPS 1.0.0 address.

    ``protocol``: ``auto`` (OGC API - Processes where the server offers it, else WPS 1.0.0),
    ``ogcapi`` or ``wps``; :attr:`protocol` and :attr:`url` say what was found. Each process
    is a method named in snake case (``client.jpeg2tiff``, ``client.change_detect``) with the
    process's inputs as keywords; it returns a :class:`Job`.
    """

    def __init__(self, url: str, protocol: str = "auto", session: requests.Session | None = None):
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}")
        self.session = session or requests.Session()
        self.backend: Backend = connect(url, protocol, self.session)
        self.protocol: str = self.backend.name
        self.url: str = self.backend.url
        self._descriptions: dict[str, Process] = {}

    def __repr__(self) -> str:
        return f"<Client {self.url} ({self.protocol})>"

    # Processes

    def processes(self) -> list[Process]:
        """The processes the server offers, described (each with its ``id`` and ``title``)."""
        ids = list(self._methods.values())
        missing = [i for i in ids if i not in self._descriptions]
        if missing:
            self._descriptions.update((p.id, p) for p in self.backend.describe(missing))
        return [self._descriptions[i] for i in ids if i in self._descriptions]

    def describe(self, process_id: str) -> Process:
        """A process's description: inputs with types, defaults and allowed values."""
        if process_id not in self._descriptions:
            [self._descriptions[process_id]] = self.backend.describe([process_id])
        return self._descriptions[process_id]

    @functools.cached_property
    def _methods(self) -> dict[str, str]:
        """``{method name: process id}``, read once from the server's process list."""
        return {method_name(process_id): process_id for process_id in self.backend.process_ids()}

    def __dir__(self) -> list[str]:
        return [*super().__dir__(), *self._methods]

    def __getattr__(self, name: str) -> Callable[..., Job]:
        if name.startswith("_"):
            raise AttributeError(name)
        process_id = self._methods.get(name)
        if process_id is None:
            raise AttributeError(f"{self.url} has no process {name!r}; it has {', '.join(self._methods)}")
        process = self.describe(process_id)

        def run(**inputs: Any) -> Job:
            return self.execute(process_id, **inputs)

        run.__name__ = run.__qualname__ = name
        run.__doc__, run.__signature__ = process.docstring(), process.signature()  # type: ignore[attr-defined]
        return run

    # Jobs

    def execute(self, process_id: str, **inputs: Any) -> Job:
        """Submit a job of ``process_id`` (asynchronously); return its :class:`Job`.

        A file input given as a ``Path`` or the name of an existing local file is uploaded; a
        URL or any other text (a path under one of the server's data roots) is passed as a
        reference. Lists give several values; None leaves an input out.
        """
        process = self.describe(process_id)
        known = {p.name for p in process.inputs} | {p.twin for p in process.inputs if p.twin}
        unknown = sorted(set(inputs) - known)
        if unknown:
            raise TypeError(f"{process_id} has no input {', '.join(unknown)}; its inputs: "
                            f"{', '.join(p.name for p in process.inputs)}")
        return self.backend.submit(process, {name: value for name, value in inputs.items() if value is not None})

    def job(self, reference: str) -> Job:
        """A job submitted earlier: OGC API, its id or address; WPS, its status document's
        address (:attr:`Job.url`)."""
        return self.backend.job(reference)


def connect(url: str, protocol: str, session: requests.Session) -> Backend:
    """The backend for ``url``: OGC API - Processes, then WPS 1.0.0 (for ``auto``), each tried
    at the addresses ``url`` may mean: the service itself where it names one, else the CANDELA
    service beside the base URL, then ``url`` itself."""
    given = url.rstrip("/")
    suffix = next((path for path in SERVICE_PATHS if given.endswith(path)), "")
    base = given[: len(given) - len(suffix)]
    ogcapi = [given] if suffix == "/ogcapi" else [f"{base}/ogcapi", *([given] if not suffix else [])]
    wps = [given] if suffix.endswith("/wps") else [f"{base}/wps", *([given] if not suffix else [])]
    tries: list[tuple[type[OgcApi | Wps], str]] = [(OgcApi, u) for u in ogcapi if protocol in ("auto", "ogcapi")]
    tries += [(Wps, u) for u in wps if protocol in ("auto", "wps")]
    for kind, address in tries:
        backend = kind.probe(address, session)
        if backend is not None:
            return backend
    raise ValueError(f"{url}: no OGC API - Processes or WPS 1.0.0 service answers at "
                     f"{', '.join(address for _, address in tries)}")
