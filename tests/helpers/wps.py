"""WPS requests and responses in tests: Execute documents, KVP queries, and reading answers."""

import base64
import time
from urllib.parse import quote

from helpers.schemas import assert_valid

NS = {"wps": "http://www.opengis.net/wps/1.0.0", "ows": "http://www.opengis.net/ows/1.1",
      "xlink": "http://www.w3.org/1999/xlink"}


def kvp(wps, **params):
    query = "&".join(f"{k}={v}" for k, v in {"service": "WPS", "version": "1.0.0", **params}.items())
    return wps.get(f"/wps?{query}")


def data_inputs(**inputs):
    return quote(";".join(f"{k}={v}" for k, v in inputs.items()), safe="=;")


def execute_xml(identifier, inputs, outputs=(), raw=None, status=False):
    """An Execute request document; ``inputs`` maps ids to text or ('href', url) or ('b64', bytes, mime)."""
    parts = []
    for identifier_, value in inputs:
        if isinstance(value, tuple) and value[0] == "href":
            body = f'<wps:Reference xlink:href="{value[1]}"/>'
        elif isinstance(value, tuple) and value[0] == "b64":
            body = (f'<wps:Data><wps:ComplexData mimeType="{value[2]}" encoding="base64">'
                    f"{base64.b64encode(value[1]).decode()}</wps:ComplexData></wps:Data>")
        else:
            body = f"<wps:Data><wps:LiteralData>{value}</wps:LiteralData></wps:Data>"
        parts.append(f"<wps:Input><ows:Identifier>{identifier_}</ows:Identifier>{body}</wps:Input>")
    if raw:
        form = f"<wps:RawDataOutput><ows:Identifier>{raw}</ows:Identifier></wps:RawDataOutput>"
    elif outputs:
        store = ' storeExecuteResponse="true" status="true"' if status else ""
        outs = "".join(
            f'<wps:Output asReference="{str(ref).lower()}"><ows:Identifier>{o}</ows:Identifier></wps:Output>'
            for o, ref in outputs)
        form = f"<wps:ResponseDocument{store}>{outs}</wps:ResponseDocument>"
    else:
        form = ""
    response_form = f"<wps:ResponseForm>{form}</wps:ResponseForm>" if form else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<wps:Execute service="WPS" version="1.0.0" xmlns:wps="http://www.opengis.net/wps/1.0.0" '
        'xmlns:ows="http://www.opengis.net/ows/1.1" xmlns:xlink="http://www.w3.org/1999/xlink">'
        f"<ows:Identifier>{identifier}</ows:Identifier><wps:DataInputs>{''.join(parts)}</wps:DataInputs>"
        f"{response_form}</wps:Execute>"
    )


def post(wps, xml):
    return wps.post("/wps", data=xml, content_type="text/xml")


def output_path(href, server_root):
    """Local file behind an output URL of the test server."""
    prefix = "http://127.0.0.1:5000/outputs/"
    assert href.startswith(prefix), href
    return server_root / "outputs" / href[len(prefix):]


def outputs_of(doc):
    """Each output of an Execute response: its reference URL, or its inline data."""
    found = {}
    for output in doc.xpath("//wps:Output", namespaces=NS):
        identifier = output.findtext("{%s}Identifier" % NS["ows"])
        reference = output.xpath("wps:Reference/@href", namespaces=NS)
        data = output.xpath(".//wps:ComplexData/text()", namespaces=NS)
        found[identifier] = reference[0] if reference else data[0]
    return found


def exception_text(doc):
    return " ".join(doc.xpath("//ows:ExceptionText/text()", namespaces=NS))


def failed_text(response):
    """The exception text of a failed Execute (ProcessFailed, or an OWS exception report)."""
    doc = assert_valid(response.data)
    assert doc.xpath("//wps:ProcessFailed", namespaces=NS) or doc.xpath("/ows:ExceptionReport", namespaces=NS)
    return exception_text(doc)


def wait_for_end(status_file, timeout=60):
    """The status document of an async job once it has ended (schema-checked each read)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = assert_valid(status_file.read_bytes())
        if doc.xpath("//wps:ProcessSucceeded|//wps:ProcessFailed", namespaces=NS):
            return doc
        time.sleep(0.2)
    raise AssertionError(f"job did not finish within {timeout} s")
