"""The OGC API - Processes binding of the operation declarations.

Generated from each :class:`~processes.declaration.Operation`, as the WPS and QGIS processes
are: the process description (:func:`describe`), pygeoapi's processor holding it
(:class:`OperationProcessor`), the translation of an execute request's inputs and outputs
into the WPS request the service checks and queues (:func:`wps_inputs`, :func:`wps_outputs`),
and a job's results as OGC API results (:func:`results`).

Inputs: a literal by value (``5``, ``"B04"``, ``true``, or ``{"value": ...}``); a file by
reference (``{"href": url}``), as a plain string (an http(s) URL or a path under a data root,
checked as WPS checks a reference sent as text, before any job exists), or embedded
(``{"value": base64, "mediaType": ...}``); a vector also as GeoJSON (an object), or GML as
``{"value": gml, "mediaType": "application/gml+xml"}``. Outputs: rasters and images always as links under
``/outputs/``, JSON documents by value unless asked by reference.
"""

import base64
import binascii
import json

from pygeoapi.process.base import BaseProcessor
from pywps.app.WPSRequest import get_output_from_dict
from pywps.exceptions import InvalidParameterValue

from . import declaration as declared
from .registry import load_operation

JOB_CONTROL = ["sync-execute", "async-execute", "dismiss"]
TRANSMISSION = ["value", "reference"]
SCHEMA_TYPES = {"string": "string", "integer": "integer", "float": "number", "boolean": "boolean"}


# Descriptions

def describe(operation):
    """The OGC API process description of ``operation`` (pygeoapi's processor metadata)."""
    return {
        "id": operation.identifier,
        "title": operation.title,
        "description": operation.abstract,
        "version": operation.version,
        "keywords": list(operation.keywords),
        "jobControlOptions": list(JOB_CONTROL),
        "outputTransmission": list(TRANSMISSION),
        "links": [],
        "inputs": {i.identifier: describe_input(i) for i in operation.inputs},
        "outputs": {o.identifier: describe_output(o) for o in operation.outputs},
    }


def describe_input(inpt):
    description = {"title": inpt.title, "description": inpt.abstract,
                   "minOccurs": 1 if inpt.required else 0, "maxOccurs": inpt.max_occurs}
    if isinstance(inpt, declared.LiteralInput):
        description["schema"] = literal_schema(inpt)
    else:
        reference = {"type": "string", "format": "uri-reference",
                     "description": "An http(s) URL, or a path under one of the server's data roots"}
        description["schema"] = {"anyOf": [file_schema(f) for f in inpt.formats] + [reference]}
    return description


def literal_schema(literal):
    schema = {"type": SCHEMA_TYPES[literal.type]}
    if literal.allowed:
        schema["enum"] = list(literal.allowed)
    if literal.minimum is not None:
        schema["minimum"] = literal.minimum
    if literal.maximum is not None:
        schema["maximum"] = literal.maximum
    if literal.default is not None:
        schema["default"] = literal.default
    return schema


def file_schema(media_type):
    """A file of ``media_type``: JSON documents are objects, other files binary."""
    if media_type in (declared.JSON, declared.GEOJSON):
        return {"type": "object", "contentMediaType": media_type}
    if media_type == declared.GML:
        return {"type": "string", "contentMediaType": media_type}
    return {"type": "string", "contentEncoding": "binary", "contentMediaType": media_type}


def describe_output(output):
    schemas = [file_schema(f) for f in output.formats]
    return {"title": output.title, "description": output.abstract,
            "schema": schemas[0] if len(schemas) == 1 else {"oneOf": schemas}}


class OperationProcessor(BaseProcessor):
    """pygeoapi's processor of one declaration, named in its configuration by
    ``operation`` (``module:NAME``, :func:`processes.registry.operation_path`). It only
    describes (its ``execute`` is never called): jobs are submitted through the manager and
    run by the job store's workers."""

    def __init__(self, processor_def):
        self.operation = load_operation(processor_def["operation"])
        super().__init__(processor_def, describe(self.operation))


# Execute requests

def wps_inputs(operation, inputs):
    """An execute request's ``inputs`` as PyWPS's parsed inputs of the WPS binding (what its
    XML parser makes: literals ``{identifier, data}``, references ``{identifier, href}``,
    embedded data ``{identifier, mimeType, data, encoding}``), or an InvalidParameterValue
    naming the input at fault."""
    parsed = {}
    for inpt, given in named(operation, "input", inputs):
        for value in given if isinstance(given, list) else [given]:
            if isinstance(inpt, declared.LiteralInput):
                name, item = inpt.identifier, {"data": literal_text(inpt, value)}
            else:
                name, item = file_value(inpt, value)
            parsed.setdefault(name, []).append({"identifier": name, **item})
    return parsed


def named(operation, kind, given):
    """``[(declaration, value)]`` of an execute request's ``inputs`` or ``outputs`` (``kind``
    input or output); an unknown identifier is an InvalidParameterValue naming it."""
    if not isinstance(given, dict):
        raise InvalidParameterValue(f"{kind}s must be an object of {kind} identifiers", f"{kind}s")
    known = {item.identifier: item for item in getattr(operation, f"{kind}s")}
    for identifier in given:
        if identifier not in known:
            raise InvalidParameterValue(
                f"Unknown {kind} {identifier!r}; the {kind}s of {operation.identifier} are {', '.join(known)}",
                identifier)
    return [(known[identifier], value) for identifier, value in given.items()]


def literal_text(inpt, value):
    """A literal's value as the text WPS reads (its type is checked there)."""
    if isinstance(value, dict) and set(value) <= {"value", "mediaType", "encoding", "schema"} and "value" in value:
        value = value["value"]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise InvalidParameterValue(f"Input {inpt.identifier}: give a {inpt.type} value, not {json.dumps(value)[:60]}",
                                inpt.identifier)


def file_value(inpt, value):
    """``(WPS input identifier, parsed input)`` of one value of a file or vector input."""
    identifier = inpt.identifier
    if isinstance(value, str):  # a URL or a server path, as text: checked as a reference
        return identifier, {"data": value}
    if isinstance(value, dict) and "href" in value:
        media_type(inpt, value.get("type"))
        return identifier, {"data": str(value["href"])}
    if isinstance(value, dict) and "value" in value:
        media = media_type(inpt, value.get("mediaType"))
        return identifier, embedded(inpt, value["value"], media, value.get("encoding"))
    if isinstance(inpt, declared.VectorInput) and isinstance(value, dict):
        return identifier, embedded(inpt, value, declared.GEOJSON, None)
    raise InvalidParameterValue(
        f"Input {identifier}: give a URL or server path, {{\"href\": ...}}, or {{\"value\": base64, "
        f"\"mediaType\": ...}}", identifier)


def media_type(inpt, given):
    """The media type given for a file input, which must be one it takes (None: its first)."""
    if given and given not in inpt.formats:
        raise InvalidParameterValue(
            f"Input {inpt.identifier}: media type {given!r} is not one of {', '.join(inpt.formats)}",
            inpt.identifier)
    return given or None


def embedded(inpt, value, media, encoding):
    if isinstance(value, (dict, list)):  # a JSON document (GeoJSON)
        return {"mimeType": media or declared.GEOJSON, "data": json.dumps(value), "encoding": ""}
    if not isinstance(value, str):
        raise InvalidParameterValue(f"Input {inpt.identifier}: an embedded value must be text", inpt.identifier)
    if encoding is None and isinstance(inpt, declared.FileInput):
        encoding = "base64"  # binary files are sent in base64
    if encoding == "base64":
        try:
            value = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidParameterValue(f"Input {inpt.identifier}: the value is not valid base64",
                                        inpt.identifier) from None
    return {"mimeType": media, "encoding": encoding or "", "data": value}


def wps_outputs(operation, requested=None):
    """PyWPS's requested outputs for an execute request's ``outputs`` (all when None): files
    always by reference, JSON documents by value unless asked by reference."""
    outputs = {}
    for output, options in named(operation, "output", requested or {o.identifier: {} for o in operation.outputs}):
        asked = options.get("transmissionMode") if isinstance(options, dict) else None
        by_reference = output.by_reference or asked == "reference"
        outputs[output.identifier] = {"asReference": "true" if by_reference else "false"}
    return get_output_from_dict(outputs, False)[1]


# Results

def results(outputs):
    """A job's recorded outputs (:func:`processes.results.outputs_of`) as OGC API results:
    links for outputs by reference, qualified values for embedded ones (JSON parsed)."""
    found = {}
    for identifier, output in outputs.items():
        if "href" in output:
            found[identifier] = {"href": output["href"], "type": output["type"]}
            continue
        value, media, encoding = output["value"], output.get("type"), output.get("encoding")
        if media == declared.JSON and not encoding:
            value = json.loads(value)
        found[identifier] = {"value": value, **{key: item for key, item in (("mediaType", media),
                                                                            ("encoding", encoding)) if item}}
    return found
