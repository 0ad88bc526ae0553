"""What Execute responses say, as WPS 1.0.0 (OGC 05-007r7) wants it; used by
:class:`processes.service.JobResponse` and the worker.

- :func:`service_instance`: the GetCapabilities URL of ``serviceInstance`` (PyWPS escapes it
  twice, ``&amp;amp;``).
- :func:`lineage_inputs`: with ``lineage=true``, the inputs as the client sent them (PyWPS
  echoes the first value of each input after parsing, defaults the server filled in included).
- :func:`escape_json_outputs`: embedded JSON escaped for XML.
- :func:`check_embedded`: a complex output embedded in the response (``asReference`` false or
  not given for a listed output) may be at most ``[candela] maxembedded``.
"""

import base64
import os
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from xml.sax.saxutils import escape

from lxml import etree
from markupsafe import Markup
from pywps import configuration
from pywps.app.exceptions import ProcessError
from pywps.inout.formats import FORMATS
from pywps.inout.outputs import ComplexOutput

from . import limits
from .wps import MESSAGE_CHARS

#: Characters kept in the messages of :func:`check_embedded` (PyWPS strips all others).
#: The types PyWPS embeds as they are (``_json_data`` of its ComplexOutput).
JSON_MEDIA_TYPES = (FORMATS.JSON.mime_type, FORMATS.GEOJSON.mime_type)


def service_instance(url=None):
    """The URL of a service's GetCapabilities: its ``url`` (default ``[server] url``) with
    ``service=WPS&request=GetCapabilities``."""
    parts = urlsplit(url or configuration.get_config_value("server", "url"))
    query = [(k, v) for k, v in parse_qsl(parts.query) if k.lower() not in ("service", "request")]
    query += [("service", "WPS"), ("request", "GetCapabilities")]
    return urlunsplit(parts._replace(query=urlencode(query)))


# Lineage

def lineage_inputs(process, sent):
    """The ``input_definitions`` of PyWPS's Execute template for the inputs ``sent`` (PyWPS's
    input dicts, before parsing), in the order sent, every value of every input."""
    declared = {inpt.identifier: inpt for inpt in process.inputs}
    echoed = []
    for identifier, values in sent.items():
        inpt = declared.get(identifier)
        for value in values:
            echoed.append({"identifier": identifier, "title": getattr(inpt, "title", identifier),
                           "abstract": getattr(inpt, "abstract", "") or "", **_as_sent(value)})
    return echoed


def _as_sent(value):
    if "href" in value:
        return {"type": "reference", "href": value["href"], "method": value.get("method") or "GET",
                "mimetype": value.get("mimeType"), "encoding": value.get("encoding"), "schema": value.get("schema")}
    if "mimeType" in value:
        data, encoding = value.get("data"), value.get("encoding")
        if isinstance(data, bytes):
            data, encoding = Markup(base64.b64encode(data).decode("ascii")), "base64"
        else:
            data = _xml_or_text("" if data is None else str(data))
        return {"type": "complex", "data": data, "mimetype": value.get("mimeType"), "encoding": encoding,
                "schema": value.get("schema")}
    data = value.get("data")
    if isinstance(data, (list, tuple)) and len(data) == 4:  # a bounding box
        return {"type": "bbox", "crs": value.get("crs") or "", "dimensions": value.get("dimensions") or 2,
                "ll": data[:2], "ur": data[2:]}
    uom = value.get("uom")
    return {"type": "literal", "data": "" if data is None else data, "uom": {"reference": uom} if uom else None}


def _xml_or_text(text):
    """Embedded data as it came: an XML element (PyWPS keeps it as its text) as that element
    (re-serialised: no XML declaration or DOCTYPE inside the response), other text escaped."""
    if text.lstrip().startswith("<"):
        parser = etree.XMLParser(resolve_entities=False, no_network=True)
        try:
            root = etree.fromstring(text.encode("utf-8"), parser)
            return Markup(etree.tostring(root, encoding=str))
        except etree.XMLSyntaxError:
            pass
    return Markup(escape(text))


# Embedded outputs

def escape_json_outputs(outputs):
    """PyWPS embeds JSON outputs unescaped in the XML (``& <`` in a name break the document):
    escape them in the ``outputs`` of PyWPS's Execute template data."""
    for output in outputs or ():
        if output.get("type") == "complex" and isinstance(output.get("data"), str) \
                and output.get("mimetype") in JSON_MEDIA_TYPES:
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
