"""A finished job's outputs, read off its WPS Execute response, for any protocol.

The worker records them with the job (:func:`outputs_of`): ``{identifier: {"href": url,
"type": media type}}`` for an output by reference, ``{"value": text, "type": ..., "encoding":
...}`` for one embedded. OGC API - Processes answers a job's results from them, whichever
protocol submitted it.
"""

from lxml import etree

WPS = "http://www.opengis.net/wps/1.0.0"
OWS = "http://www.opengis.net/ows/1.1"
XLINK = "http://www.w3.org/1999/xlink"
NS = {"wps": WPS, "ows": OWS}


def outputs_of(document):
    """The outputs listed in an ExecuteResponse document (text or bytes); {} for none, or for
    a document that is not XML."""
    if not document:
        return {}
    try:
        root = etree.fromstring(document.encode("utf-8") if isinstance(document, str) else document,
                                etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return {}
    found = {}
    for output in root.iterfind("wps:ProcessOutputs/wps:Output", NS):
        identifier = output.findtext("ows:Identifier", namespaces=NS)
        reference = output.find("wps:Reference", NS)
        if reference is not None:
            found[identifier] = {"href": reference.get("href") or reference.get(f"{{{XLINK}}}href"),
                                 "type": reference.get("mimeType")}
            continue
        data = output.find("wps:Data/*", NS)
        if data is None:
            continue
        value = data.text or "".join(etree.tostring(child, encoding=str) for child in data)
        found[identifier] = {"value": value, "type": data.get("mimeType") or data.get("dataType"),
                             "encoding": data.get("encoding")}
    return found
