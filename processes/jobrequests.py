"""A WPS job's request and end, as the job store keeps them for its worker and its waiting
client: the request saved (uploads in files of the job folder), read back, and the final
state of its response."""

import copy

from lxml import etree
from pywps.response.status import WPS_STATUS

from .results import outputs_of


def prepare(process, job_id, folder, workdir="run"):
    """A copy of ``process`` for one job: its id, and its work folder inside the job folder."""
    process = copy.deepcopy(process)
    process._set_uuid(job_id)
    process._setup_status_storage()
    process.set_workdir(str(folder / workdir))
    return process


def save_request(wps_request, raw_inputs, uploads):
    """The request as JSON for a worker; embedded (uploaded) data goes to files in the job's
    ``uploads`` folder, so a queued job holding large uploads never sits in the database."""
    inputs = {}
    count = 0
    for identifier, values in raw_inputs.items():
        inputs[identifier] = []
        for value in values:
            value = dict(value)
            data = value.get("data")
            if isinstance(data, etree._Element):
                data = etree.tostring(data, encoding=str)
            if isinstance(data, (bytes, str)) and _is_embedded_complex(value):
                uploads.mkdir(parents=True, exist_ok=True)
                count += 1
                path = uploads / f"upload-{count}"  # named by us, never by the request
                path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
                value.pop("data")
                value["data_file"] = {"path": path.name, "bytes": isinstance(data, bytes)}
            inputs[identifier].append(value)
    return {
        "version": wps_request.version, "language": wps_request.language, "identifier": wps_request.identifier,
        "store_execute": wps_request.store_execute, "status": wps_request.status, "lineage": wps_request.lineage,
        "outputs": wps_request.outputs, "raw": wps_request.raw, "inputs": inputs,
        "default_mimetype": wps_request.default_mimetype,
        # The response's format (XML or JSON) follows the client's Accept header.
        "accept": wps_request.http_request.headers.get("Accept", "") if wps_request.http_request else "",
    }


def _is_embedded_complex(value):
    """Embedded complex data carries a mimeType key (PyWPS's parser sets it, maybe to None),
    a reference an href, a literal neither."""
    return "mimeType" in value and "href" not in value


class MissingUpload(Exception):
    """An uploaded input of a job is not where this server looks for it."""


def load_request(request, uploads):
    """The raw input dicts of :func:`save_request`, with uploaded data read back from ``uploads``."""
    inputs = {}
    for identifier, values in request["inputs"].items():
        inputs[identifier] = []
        for value in values:
            value = dict(value)
            stored = value.pop("data_file", None)
            if stored:
                try:
                    data = (uploads / stored["path"]).read_bytes()
                except FileNotFoundError:
                    raise MissingUpload(
                        f"The uploaded input {identifier!r} of this job is not in {uploads} on this server: servers "
                        "sharing a job database need [candela] uploads set to a folder they all share") from None
                value["data"] = data if stored["bytes"] else data.decode("utf-8")
            inputs[identifier].append(value)
    return inputs


def final_state(response):
    """What a waiting synchronous request needs of a finished job's response."""
    raw_outputs = {}
    if response.wps_request.raw and response.status == WPS_STATUS.SUCCEEDED:
        for identifier in response.wps_request.outputs:
            output = response.outputs[identifier]
            file = output.file if output.prop == "file" else None
            data = None if file else output.data
            raw_outputs[identifier] = (file, data.decode("latin-1") if isinstance(data, bytes) else data)
    names = ("status", "message", "status_percentage", "doc", "content_type")
    return {"response": {n: getattr(response, n) for n in names}, "raw_outputs": raw_outputs,
            "outputs": outputs_of(response.doc) if response.status == WPS_STATUS.SUCCEEDED else {}}
