"""The client: a server's processes as Python methods."""

import base64
import functools
import mimetypes
from pathlib import Path
from urllib.parse import urlsplit

import requests

from .descriptions import Process, method_name
from .errors import raise_for
from .jobs import Job

#: Paths a user may give instead of the server's base URL.
SERVICE_PATHS = ("/ogcapi", "/qgis/wps", "/wps")


class Client:
    """A CANDELA server at ``url`` (``http://127.0.0.1:5000``; its ``/ogcapi`` or ``/wps``
    address works too). Each process is a method named in snake case (``client.jpeg2tiff``,
    ``client.change_detect``) with the process's inputs as keywords; it returns a :class:`Job`.
    """

    def __init__(self, url, session=None):
        base = url.rstrip("/")
        for path in SERVICE_PATHS:
            if base.endswith(path):
                base = base[: -len(path)]
                break
        self.url = base
        self.api = f"{base}/ogcapi"
        self.session = session or requests.Session()
        self._descriptions = {}

    def __repr__(self):
        return f"<Client {self.url}>"

    # Processes

    def processes(self):
        """The processes the server offers (each with its ``id`` and ``title``)."""
        return [self.describe(process_id) for process_id in self._methods.values()]

    def describe(self, process_id):
        """A process's description: inputs with types, defaults and allowed values."""
        if process_id not in self._descriptions:
            self._descriptions[process_id] = Process.from_description(self._get(f"/processes/{process_id}"))
        return self._descriptions[process_id]

    @functools.cached_property
    def _methods(self):
        """``{method name: process id}``, read once from the server's process list."""
        return {method_name(summary["id"]): summary["id"] for summary in self._get("/processes")["processes"]}

    def __dir__(self):
        return [*super().__dir__(), *self._methods]

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        process_id = self._methods.get(name)
        if process_id is None:
            raise AttributeError(f"{self.url} has no process {name!r}; it has {', '.join(self._methods)}")
        process = self.describe(process_id)

        def run(**inputs):
            return self.execute(process_id, **inputs)

        run.__name__, run.__doc__, run.__signature__ = name, process.docstring(), process.signature()
        return run

    # Jobs

    def execute(self, process_id, **inputs):
        """Submit a job of ``process_id`` (asynchronously); return its :class:`Job`.

        A file input given as a local file is uploaded; a URL or any other text (a path under
        one of the server's data roots) is passed as a reference. Lists give several values.
        """
        process = self.describe(process_id)
        files = {p.name for p in process.inputs if p.kind == "file"}
        body = {"inputs": {name: _value(value, name in files) for name, value in inputs.items() if value is not None}}
        response = self.session.post(f"{self.api}/processes/{process_id}/execution", json=body,
                                     headers={"Prefer": "respond-async"}, timeout=300)
        raise_for(response)
        return Job(self.session, response.headers["Location"], process_id)

    def job(self, job_id):
        """A job submitted earlier, by its id."""
        return Job(self.session, f"{self.api}/jobs/{job_id}", "?")

    def _get(self, path):
        response = self.session.get(f"{self.api}{path}", params={"f": "json"}, timeout=60)
        raise_for(response)
        return response.json()


def _value(value, is_file):
    if isinstance(value, (list, tuple)):
        return [_value(v, is_file) for v in value]
    if not is_file:
        return value
    if isinstance(value, Path) or (isinstance(value, str) and not urlsplit(value).scheme and Path(value).is_file()):
        path = Path(value)
        media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if path.suffix.lower() in (".tif", ".tiff"):
            media = "image/tiff; subtype=geotiff"
        return {"value": base64.b64encode(path.read_bytes()).decode("ascii"), "mediaType": media}
    if isinstance(value, str) and urlsplit(value).scheme in ("http", "https"):
        return {"href": value}
    return str(value)
