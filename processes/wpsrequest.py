"""WPS 1.0.0 requests as OGC 05-007r7 writes them, on top of PyWPS's parser.

- :class:`CandelaRequest` (PyWPS's WPSRequest; :mod:`.pywps_fixes` has PyWPS's Service build
  it): KVP ``ResponseDocument``/``RawDataOutput`` in the standard's syntax
  (``image@asReference=true;metadata@mimeType=application/json``; PyWPS's own
  ``image=@asReference=true`` still works), ``version`` required by DescribeProcess and Execute,
  an Execute without ``identifier`` answered MissingParameterValue with locator ``identifier``.
"""

from urllib.parse import unquote

from pywps import WPSRequest
from pywps.exceptions import InvalidParameterValue, MissingParameterValue

#: The attributes of an output in KVP (lowercase) and PyWPS's keys for them.
OUTPUT_ATTRIBUTES = {"mimetype": "mimetype", "encoding": "encoding", "schema": "schema", "uom": "uom",
                     "asreference": "asReference"}
#: xs:boolean's words, and what PyWPS's ``asReference`` holds for each.
BOOLEANS = {"true": "true", "1": "true", "false": "false", "0": "false"}
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
        """DescribeProcess and Execute must say their version (GetCapabilities negotiates it
        and passes the version it chose)."""
        if not version and not allow_default:
            operation = OPERATIONS.get(self.operation, "The request")
            raise MissingParameterValue(f"{operation} needs the version parameter (version=1.0.0)", "version")
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
                if value.lower() not in BOOLEANS:
                    raise InvalidParameterValue(
                        f"{parameter}: asReference of output {identifier} is {value!r}; use true or false", parameter)
                value = BOOLEANS[value.lower()]
            output[key] = value
        outputs[identifier] = output
    if raw and len(outputs) > 1:
        raise InvalidParameterValue(f"RawDataOutput names one output, not {len(outputs)}", parameter)
    return outputs
