"""WPS 1.0.0 documents, read and written: capabilities, process descriptions, Execute
requests, status documents with their outputs, and exception reports. Parsed with entities
and network access off."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any

from lxml import etree

from .descriptions import OutputSpec, Parameter, Process
from .errors import ServerError
from .inputs import Upload, file_value

WPS = "http://www.opengis.net/wps/1.0.0"
OWS = "http://www.opengis.net/ows/1.1"
XLINK = "http://www.w3.org/1999/xlink"
NS = {"wps": WPS, "ows": OWS, "xlink": XLINK}
#: Literal data types by the kind the client gives them.
KINDS = {"integer": "integer", "int": "integer", "long": "integer", "short": "integer",
         "positiveInteger": "integer", "nonNegativeInteger": "integer", "float": "number",
         "double": "number", "decimal": "number", "boolean": "boolean"}
#: The literal twin CANDELA servers give each file input (``product`` → ``product_ref``).
TWIN_SUFFIX = "_ref"
#: Output media types asked embedded, not by reference (JSON arrives as Python data).
EMBEDDED = ("application/json",)
#: Status elements, and the client's name of their state.
STATES = {"ProcessAccepted": "accepted", "ProcessStarted": "running", "ProcessPaused": "running",
          "ProcessSucceeded": "successful", "ProcessFailed": "failed"}


def parse(content: bytes) -> etree._Element:
    """An XML answer; an ExceptionReport raises its ServerError."""
    try:
        root = etree.fromstring(content, _parser())
    except etree.XMLSyntaxError as error:
        raise ServerError("InvalidResponse", f"the server's answer is not XML ({error}): "
                                             f"{content[:200].decode(errors='replace')}") from None
    if etree.QName(root).localname == "ExceptionReport":
        raise _report_error(root)
    return root


def exception_report(content: bytes, status: int | None = None) -> ServerError | None:
    """The ServerError of an ExceptionReport, or None if ``content`` is not one."""
    try:
        root = etree.fromstring(content, _parser())
    except etree.XMLSyntaxError:
        return None
    return _report_error(root, status) if etree.QName(root).localname == "ExceptionReport" else None


def _report_error(report: etree._Element, status: int | None = None) -> ServerError:
    exception = report.find("{*}Exception")
    if exception is None:
        return ServerError("NoApplicableCode", "an empty exception report", status=status)
    text = " ".join(_texts(exception, "{*}ExceptionText"))
    return ServerError(exception.get("exceptionCode") or "NoApplicableCode", text, exception.get("locator"), status)


# Capabilities and descriptions

def process_ids(capabilities: etree._Element) -> list[str]:
    """The process identifiers a GetCapabilities answer offers."""
    return _texts(capabilities, f"{{*}}ProcessOfferings/{{*}}Process/{{{OWS}}}Identifier")


def processes(descriptions: etree._Element) -> list[Process]:
    """The processes of a DescribeProcess answer; a file input with a literal ``<id>_ref`` twin
    (CANDELA's way of passing a reference as text) is one input, the twin remembered (its
    locators in errors are the file input's)."""
    return [_process(d) for d in descriptions.iter("{*}ProcessDescription")]


def _process(description: etree._Element) -> Process:
    inputs = [_parameter(i) for i in description.iterfind("{*}DataInputs/{*}Input")]
    files = {p.name for p in inputs if p.kind == "file"}
    twins = {p.name: p for p in inputs
             if p.kind == "string" and p.name.endswith(TWIN_SUFFIX) and p.name[:-len(TWIN_SUFFIX)] in files}
    merged = []
    for parameter in inputs:
        twin = twins.get(parameter.name + TWIN_SUFFIX)
        if twin is not None:
            parameter = replace(parameter, twin=twin.name, required=parameter.required or twin.required)
        if parameter.name not in twins:
            merged.append(parameter)
    outputs = tuple(OutputSpec(_text(o, "Identifier"), _text(o, "Title"), _formats(o.find("{*}ComplexOutput")))
                    for o in description.iterfind("{*}ProcessOutputs/{*}Output"))
    return Process(_text(description, "Identifier"), _text(description, "Title"), _text(description, "Abstract"),
                   description.get(f"{{{WPS}}}processVersion") or description.get("processVersion") or "",
                   tuple(merged), outputs)


def _parameter(element: etree._Element) -> Parameter:
    name = _text(element, "Identifier")
    described = Parameter(name, _text(element, "Title") or name, _text(element, "Abstract"), "string",
                          required=int(element.get("minOccurs", "1")) > 0,
                          max_occurs=int(element.get("maxOccurs", "1")))
    literal = element.find("{*}LiteralData")
    if literal is None:
        complex_data = element.find("{*}ComplexData")
        if complex_data is not None:
            return replace(described, kind="file", formats=_formats(complex_data))
        return described  # a bounding box: given as text
    data_type = literal.find("{*}DataType")
    type_name = "string"
    if data_type is not None:
        type_name = (data_type.text or "").strip() or data_type.get(f"{{{OWS}}}reference", "").rsplit("#", 1)[-1]
    kind = KINDS.get(type_name.rsplit(":", 1)[-1], "string")
    default = literal.findtext("{*}DefaultValue")
    minimum, maximum = (_texts(literal, f"{{*}}AllowedValues/{{*}}Range/{{{OWS}}}{tag}") for tag in
                        ("MinimumValue", "MaximumValue"))
    return replace(described, kind=kind, default=None if default is None else typed(default, kind),
                   allowed=tuple(typed(v, kind) for v in _texts(literal, f"{{*}}AllowedValues/{{{OWS}}}Value")),
                   minimum=typed(minimum[0], kind) if minimum else None,
                   maximum=typed(maximum[0], kind) if maximum else None)


def _formats(element: etree._Element | None) -> tuple[str, ...]:
    if element is None:
        return ()
    return tuple(dict.fromkeys(_texts(element, ".//{*}Format/{*}MimeType")))


def _text(element: etree._Element, tag: str) -> str:
    return (element.findtext(f"{{{OWS}}}{tag}") or "").strip()


def _texts(element: etree._Element, path: str) -> list[str]:
    """The stripped, non-empty texts of the elements at ``path``."""
    return [text for found in element.iterfind(path) if (text := (found.text or "").strip())]


def typed(text: str, kind: str) -> Any:
    """Literal text as the Python value of its kind (the text itself where it does not parse)."""
    text = text.strip()
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            return float(text)
    except ValueError:
        return text
    if kind == "boolean":
        return text.lower() in ("true", "1")
    return text


# Execute

def execute_request(process: Process, inputs: dict[str, Any]) -> bytes:
    """An asynchronous Execute (``storeExecuteResponse`` and ``status``): literals as text;
    a file input's local files embedded (XML as elements, other text as text, binary data in
    base64), a URL as a ``wps:Reference``, other text (a server path) as literal text, which a
    CANDELA server takes as the reference it names and checks before any job exists (its
    ``_ref`` twin would be checked only by the job); every output listed, files by reference
    and JSON embedded."""
    root = etree.Element(f"{{{WPS}}}Execute", service="WPS", version="1.0.0", nsmap=NS)
    _child(root, OWS, "Identifier", process.id)
    data_inputs = _child(root, WPS, "DataInputs")
    for name, given in inputs.items():
        parameter = process.input(name)
        for value in given if isinstance(given, (list, tuple)) else [given]:
            if parameter is not None and parameter.kind == "file":
                _file_input(data_inputs, parameter, value)
            else:
                _literal_input(data_inputs, name, value)  # a literal, or a twin named by the caller
    document = _child(_child(root, WPS, "ResponseForm"), WPS, "ResponseDocument",
                      storeExecuteResponse="true", status="true")
    for output in process.outputs:
        if output.media_types:
            embedded = output.media_types[0].split(";")[0] in EMBEDDED
            _child(_child(document, WPS, "Output", asReference="false" if embedded else "true"), OWS,
                   "Identifier", output.name)
        else:
            _child(_child(document, WPS, "Output"), OWS, "Identifier", output.name)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _literal_input(parent: etree._Element, name: str, value: Any) -> None:
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    _child(_child(_input(parent, name), WPS, "Data"), WPS, "LiteralData", text)


def _file_input(parent: etree._Element, parameter: Parameter, value: Any) -> None:
    given = file_value(value, parameter.formats)
    if not isinstance(given, Upload):
        if given.is_url:
            _child(_input(parent, parameter.name), WPS, "Reference", attrib={f"{{{XLINK}}}href": given.text})
        else:  # as OWSLib sends text; a CANDELA server checks the path before accepting the job
            _literal_input(parent, parameter.name, given.text)
        return
    data = _child(_child(_input(parent, parameter.name), WPS, "Data"), WPS, "ComplexData",
                  mimeType=given.media_type)
    if "xml" in given.media_type:
        try:
            document = etree.fromstring(given.data(), _parser())
        except etree.XMLSyntaxError as error:
            raise ValueError(f"{given.path} is not the XML that {given.media_type} is ({error})") from None
        if next(document.iter(etree.Entity), None) is not None:  # left unresolved: they would not parse there
            raise ValueError(f"{given.path} uses entities declared in its DTD; send it without them")
        data.append(document)
    elif given.is_text:
        data.text = given.text()
    else:
        data.set("encoding", "base64")
        data.text = base64.b64encode(given.data()).decode("ascii")


def _input(parent: etree._Element, name: str) -> etree._Element:
    element = _child(parent, WPS, "Input")
    _child(element, OWS, "Identifier", name)
    return element


def _child(parent: etree._Element, namespace: str, tag: str, text: str | None = None,
           attrib: dict[str, str] | None = None, **attributes: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{namespace}}}{tag}", {**(attrib or {}), **attributes})
    element.text = text
    return element


# Status documents

def status_location(response: etree._Element) -> str | None:
    return response.get("statusLocation")


def process_of(response: etree._Element) -> str | None:
    """The identifier of the process an ExecuteResponse is about."""
    process = response.find("{*}Process")
    if process is None:
        return None
    return _text(process, "Identifier") or None


def status(response: etree._Element) -> dict[str, Any]:
    """A status document (an ExecuteResponse) as the client's status: ``status``,
    ``progress``, ``message``, and for a failed job the ``code`` and ``locator`` of its report."""
    holder = response.find("{*}Status")
    element = _first_element(holder) if holder is not None else None
    if element is None:
        raise ServerError("InvalidResponse", "the server's status document has no status")
    state = STATES.get(etree.QName(element).localname, "running")
    percent = typed(element.get("percentCompleted") or "0", "number")
    progress = 100 if state == "successful" else int(percent) if isinstance(percent, float) else 0
    found: dict[str, Any] = {"status": state, "message": (element.text or "").strip(), "progress": progress}
    if state == "failed":
        report = element.find("{*}ExceptionReport")
        error = _report_error(report) if report is not None else ServerError("NoApplicableCode", found["message"])
        message = error.message if error.code == "NoApplicableCode" else f"{error.code}: {error.message}"
        found.update(message=message, code=error.code, locator=error.locator)
    return found


def outputs(response: etree._Element) -> list[tuple[str, str | None, Any, str | None]]:
    """``(name, href, value, media type)`` of each output of a status document: a reference's
    URL, or embedded data (JSON parsed, base64 decoded, XML as text)."""
    found: list[tuple[str, str | None, Any, str | None]] = []
    for output in response.iterfind("{*}ProcessOutputs/{*}Output"):
        name = _text(output, "Identifier")
        reference = output.find("{*}Reference")
        if reference is not None:
            href = reference.get(f"{{{XLINK}}}href") or reference.get("href")
            found.append((name, href, None, reference.get("mimeType")))
            continue
        complex_data = output.find("{*}Data/{*}ComplexData")
        literal = output.find("{*}Data/{*}LiteralData")
        if complex_data is not None:
            media = complex_data.get("mimeType")
            found.append((name, None, _complex_value(complex_data, media), media))
        elif literal is not None:
            kind = KINDS.get((literal.get("dataType") or "string").rsplit(":", 1)[-1], "string")
            found.append((name, None, typed(literal.text or "", kind), None))
        else:  # a bounding box: its corners' numbers
            found.append((name, None, " ".join(_texts(output, ".//{*}BoundingBoxData/*")).split(), None))
    return found


def _complex_value(element: etree._Element, media: str | None) -> Any:
    child = _first_element(element)
    if child is not None:
        return etree.tostring(child, encoding="unicode")
    text = element.text or ""
    if element.get("encoding") == "base64":
        return base64.b64decode(text)
    if (media or "").split(";")[0] in ("application/json", "application/geo+json"):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _first_element(parent: etree._Element) -> etree._Element | None:
    return next((child for child in parent if isinstance(child.tag, str)), None)  # not a comment


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True)
