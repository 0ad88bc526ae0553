"""What Execute responses say, as WPS 1.0.0 (OGC 05-007r7) wants it; used by
:class:`processes.service.JobResponse` and the worker.

- :func:`escape_json_outputs`: embedded JSON escaped for XML.
- :func:`check_embedded`: a complex output embedded in the response (``asReference`` false or
  not given for a listed output) may be at most ``[candela] maxembedded``.
"""

import os
from xml.sax.saxutils import escape

from markupsafe import Markup
from pywps.app.exceptions import ProcessError
from pywps.inout.formats import FORMATS
from pywps.inout.outputs import ComplexOutput

from . import limits

#: Characters kept in the messages of :func:`check_embedded` (PyWPS strips all others).
MESSAGE_CHARS = ".:!?=,;-_/()"
#: The types PyWPS embeds as they are (``_json_data`` of its ComplexOutput).
JSON_TYPES = (FORMATS.JSON.mime_type, FORMATS.GEOJSON.mime_type)


# Embedded outputs

def escape_json_outputs(outputs):
    """PyWPS embeds JSON outputs unescaped in the XML (``& <`` in a name break the document):
    escape them in the ``outputs`` of PyWPS's Execute template data."""
    for output in outputs or ():
        if output.get("type") == "complex" and isinstance(output.get("data"), str) \
                and output.get("mimetype") in JSON_TYPES:
            output["data"] = Markup(escape(output["data"]))


def check_embedded(response):
    """Raise a ProcessError naming the first complex output to be embedded in ``response``
    that is larger than ``[candela] maxembedded``."""
    request = response.wps_request
    if request.raw:
        return  # the one output is the response itself
    limit = limits.max_embedded_bytes()
    requested = request.outputs or {}
    for identifier, output in response.outputs.items():
        if (requested and identifier not in requested) or not isinstance(output, ComplexOutput) \
                or output.as_reference:
            continue
        size = _size(output)
        if size > limit:
            raise ProcessError(
                f"Output {identifier} is {size / 1024**2:.1f} MB, more than the {limit / 1024**2:.1f} MB "
                f"that can be embedded in the response: ask for it as a reference (asReference=true)",
                allowed_chars=MESSAGE_CHARS)


def _size(output):
    if output.prop == "file":
        return os.path.getsize(output.file)
    if output.prop == "data":
        data = output.data
        return len(data if isinstance(data, bytes) else str(data).encode("utf-8"))
    return 0
