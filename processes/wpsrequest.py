"""WPS 1.0.0 requests as OGC 05-007r7 writes them, on top of PyWPS's parser.

- :class:`CandelaRequest` (PyWPS's WPSRequest; :mod:`.pywps_fixes` has PyWPS's Service build
  it): KVP ``ResponseDocument``/``RawDataOutput`` in the standard's syntax
  (``image@asReference=true;metadata@mimeType=application/json``; PyWPS's own
  ``image=@asReference=true`` still works), ``version`` required by DescribeProcess and Execute,
  an Execute without ``identifier`` answered MissingParameterValue with locator ``identifier``.
- :func:`complex_value`: a complex input sent as literal text (OWSLib sends every plain string
  as ``wps:LiteralData``; KVP ``product=https://...``) is the reference it names, or refused.
- :func:`check_literal`: a literal that is not of its input's type is refused naming the input.
"""

import os
import re
from urllib.parse import unquote, urlparse

from pywps import WPSRequest
from pywps.exceptions import InvalidParameterValue, MissingParameterValue
from pywps.inout.literaltypes import convert

from candela.errors import InputError
from candela.references.resolve import path_under_roots

from .declaration import BOOLEAN_WORDS
from .wpsinputs import data_roots

#: The attributes of an output in KVP (lowercase) and PyWPS's keys for them.
OUTPUT_ATTRIBUTES = {"mimetype": "mimetype", "encoding": "encoding", "schema": "schema", "uom": "uom",
                     "asreference": "asReference"}
#: xs:boolean's words, and what PyWPS's ``asReference`` holds for each.
#: What a literal of each type looks like, for messages.
EXPECTED = {
    "boolean": "a boolean; use true or false",
    "integer": "an integer (type integer), e.g. 10",
    "nonNegativeInteger": "an integer of 0 or more (type nonNegativeInteger)",
    "positiveInteger": "an integer above 0 (type positiveInteger)",
    "float": "a number (type float), e.g. 0.05",
    "date": "a date (type date), e.g. 2021-06-01",
    "dateTime": "a date and time (type dateTime), e.g. 2021-06-01T10:30:00Z",
    "time": "a time (type time), e.g. 10:30:00",
}
INTEGER = re.compile(r"[+-]?\d+")
OPERATIONS = {"describeprocess": "DescribeProcess", "execute": "Execute"}


class CandelaRequest(WPSRequest):
    """PyWPS's request parser, held to WPS 1.0.0 where it is lenient or departs from it."""

    def __init__(self, http_request=None, preprocessors=None):
        try:
            super().__init__(http_request, preprocessors)
        except MissingParameterValue as error:
            if error.locator != "Identifier":  # PyWPS's locator for a missing process identifier
                raise
            raise MissingParameterValue("Execute needs the identifier of a process", "identifier") from None
        if http_request is not None and http_request.method == "GET" and self.operation == "execute":
            # PyWPS parsed ResponseDocument/RawDataOutput in its own syntax only: again, in the standard's.
            self.outputs = kvp_outputs(self.output_ids, self.raw) if self.output_ids else {}

    def check_and_set_version(self, version, allow_default=False):
        """DescribeProcess and Execute must say their version, 1.0.0, the only one answered
        (GetCapabilities negotiates it and passes the version it chose)."""
        if not version and not allow_default:
            operation = OPERATIONS.get(self.operation, "The request")
            raise MissingParameterValue(f"{operation} needs the version parameter (version=1.0.0)", "version")
        if version and version != "1.0.0":  # PyWPS would answer 2.0.0 requests in 1.0.0
            raise InvalidParameterValue(f"Version {str(version)[:20]!r} is not served; this server answers WPS 1.0.0",
                                        "version")
        super().check_and_set_version(version, allow_default=allow_default)


def kvp_outputs(text, raw):
    """The outputs of a KVP ``ResponseDocument`` (``raw`` false) or ``RawDataOutput``, as
    PyWPS's XML parser gives them: ``{identifier: {identifier: '', 'mimetype': ..., ...}}``.

    Outputs are separated by ``;``, each an identifier followed by ``@name=value`` attributes
    (``mimeType``, ``encoding``, ``schema``, ``uom``, and ``asReference`` in a ResponseDocument).
    PyWPS's ``identifier=@name=value`` is read alike.
    """
    parameter = "RawDataOutput" if raw else "ResponseDocument"
    outputs = {}
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        name, *attributes = part.split("@")
        identifier = unquote(name.split("=", 1)[0].strip())
        if not identifier:
            raise InvalidParameterValue(f"{parameter}: {part!r} names no output", parameter)
        output = {identifier: "", "mimetype": None, "encoding": "", "schema": "", "uom": ""}
        if not raw:
            output["asReference"] = "false"
        for attribute in attributes:
            key, equals, value = attribute.partition("=")
            key = OUTPUT_ATTRIBUTES.get(key.strip().lower())
            if not equals or key is None or (raw and key == "asReference"):
                allowed = "mimeType, encoding, schema, uom" + ("" if raw else ", asReference")
                raise InvalidParameterValue(
                    f"{parameter}: {attribute!r} of output {identifier} is not an attribute name=value; "
                    f"use {allowed}, e.g. {identifier}@asReference=true", parameter)
            value = unquote(value).strip()
            if key == "asReference":
                if value.lower() not in BOOLEAN_WORDS:
                    raise InvalidParameterValue(
                        f"{parameter}: asReference of output {identifier} is {value!r}; use true or false", parameter)
                value = "true" if BOOLEAN_WORDS[value.lower()] else "false"
            output[key] = value
        outputs[identifier] = output
    if raw and len(outputs) > 1:
        raise InvalidParameterValue(f"RawDataOutput names one output, not {len(outputs)}", parameter)
    return outputs


# Inputs

def check_literal(inpt, value):
    """Refuse a literal value (PyWPS's input dict) that is not of ``inpt``'s data type,
    naming the input and the type."""
    data = value.get("data")
    text = "" if data is None else str(data).strip()
    data_type = inpt.data_type
    if data_type == "boolean":
        valid = text.lower() in BOOLEAN_WORDS
    elif data_type in ("integer", "nonNegativeInteger", "positiveInteger"):
        # xs:integer's digits only (PyWPS takes int(float(text)): 10.7 as 10, and fails on inf).
        valid = bool(INTEGER.fullmatch(text)) and (
            data_type == "integer" or int(text) >= (1 if data_type == "positiveInteger" else 0))
    else:
        try:
            convert(data_type, data)
            valid = True
        except Exception:  # PyWPS's converters raise their own errors, ValueError and others
            valid = False
    if not valid:
        expected = EXPECTED.get(data_type, f"a valid {data_type}")
        raise InvalidParameterValue(f"Input {inpt.identifier}: {text[:40]!r} is not {expected}", inpt.identifier)


def complex_value(identifier, value):
    """A complex input's value (PyWPS's input dict) as PyWPS's Service takes it.

    A reference (``href``) or embedded data (``mimeType``, maybe None) is returned as it is.
    Literal text (neither) naming an http(s) or ``file://`` URL, or a path under a data root,
    becomes that reference, as if sent as ``xlink:href``: the same checks, the same fetching
    later. Any other text is refused, saying how to send the input.
    """
    if "href" in value or "mimeType" in value:
        return value
    text = "" if value.get("data") is None else str(value["data"]).strip()
    href = _reference_in_text(text)
    if href is None:
        shown = repr(text[:60]) if text else "empty text"
        raise InvalidParameterValue(
            f"Input {identifier}: {shown} is neither an http(s) URL nor a file under the server's data roots. "
            f"Send {identifier} as a reference (an http(s) URL or a server path: in WPS as xlink:href or as "
            f"text, in OGC API as a string or {{\"href\": ...}}), or embed the file with its media type "
            f"(WPS: ComplexData mimeType=...; OGC API: {{\"value\": base64, \"mediaType\": ...}})", identifier)
    # "sent": what the client wrote, its name in results (never the server's real path).
    return {"identifier": identifier, "href": href, "mimeType": None, "method": "GET", "sent": text}


def _reference_in_text(text):
    """The href that ``text`` names, or None."""
    if not text:
        return None
    scheme = urlparse(text).scheme.lower()
    if scheme in ("http", "https", "file"):
        return text
    if scheme and len(scheme) > 1:
        return None
    try:
        # The real path (symlinks resolved) is both what is checked and what is opened.
        return "file://" + str(path_under_roots(text, data_roots()))
    except InputError:
        # An absolute path outside the roots is refused by the file reference check, as a
        # file:// href would be; other text is no reference.
        return "file://" + text if os.path.isabs(text) else None
