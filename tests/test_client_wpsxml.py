"""candela.client's WPS 1.0.0 documents, for servers other than ours: descriptions without
``_ref`` twins, ranges and typed literals, Execute requests, status documents and reports."""

import pytest
from lxml import etree

from candela.client import ServerError
from candela.client.wpsxml import NS, execute_request, outputs, parse, processes, status

DESCRIPTION = b"""<?xml version="1.0"?>
<wps:ProcessDescriptions xmlns:wps="http://www.opengis.net/wps/1.0.0" xmlns:ows="http://www.opengis.net/ows/1.1"
    service="WPS" version="1.0.0">
  <ProcessDescription wps:processVersion="2.1" storeSupported="true" statusSupported="true">
    <ows:Identifier>Buffer</ows:Identifier><ows:Title>Buffer</ows:Title>
    <DataInputs>
      <Input minOccurs="1" maxOccurs="1"><ows:Identifier>layer</ows:Identifier><ows:Title>Layer</ows:Title>
        <ComplexData><Default><Format><MimeType>application/gml+xml</MimeType></Format></Default>
          <Supported><Format><MimeType>application/gml+xml</MimeType></Format>
            <Format><MimeType>application/geo+json</MimeType></Format></Supported></ComplexData></Input>
      <Input minOccurs="0" maxOccurs="1"><ows:Identifier>distance</ows:Identifier><ows:Title>Distance</ows:Title>
        <LiteralData><ows:DataType ows:reference="http://www.w3.org/TR/xmlschema-2/#double"/>
          <ows:AllowedValues><ows:Range><ows:MinimumValue>0</ows:MinimumValue>
            <ows:MaximumValue>1000</ows:MaximumValue></ows:Range></ows:AllowedValues>
          <DefaultValue>10</DefaultValue></LiteralData></Input>
      <Input minOccurs="0" maxOccurs="3"><ows:Identifier>segments</ows:Identifier><ows:Title>Segments</ows:Title>
        <LiteralData><ows:DataType>integer</ows:DataType><ows:AllowedValues><ows:Value>4</ows:Value>
          <ows:Value>8</ows:Value></ows:AllowedValues></LiteralData></Input>
      <Input minOccurs="0" maxOccurs="1"><ows:Identifier>dissolve_ref</ows:Identifier><ows:Title>Not a twin</ows:Title>
        <LiteralData><ows:DataType>boolean</ows:DataType><DefaultValue>true</DefaultValue></LiteralData></Input>
    </DataInputs>
    <ProcessOutputs>
      <Output><ows:Identifier>buffered</ows:Identifier><ows:Title>Buffered</ows:Title>
        <ComplexOutput><Default><Format><MimeType>application/geo+json</MimeType></Format></Default>
        <Supported><Format><MimeType>application/geo+json</MimeType></Format></Supported></ComplexOutput></Output>
      <Output><ows:Identifier>stats</ows:Identifier><ows:Title>Stats</ows:Title>
        <ComplexOutput><Default><Format><MimeType>application/json</MimeType></Format></Default>
        <Supported><Format><MimeType>application/json</MimeType></Format></Supported></ComplexOutput></Output>
      <Output><ows:Identifier>count</ows:Identifier><ows:Title>Count</ows:Title><LiteralOutput/></Output>
    </ProcessOutputs>
  </ProcessDescription>
</wps:ProcessDescriptions>"""


@pytest.fixture
def buffer():
    [process] = processes(parse(DESCRIPTION))
    return process


def test_a_description_gives_typed_inputs(buffer):
    assert (buffer.id, buffer.version) == ("Buffer", "2.1")
    layer, distance, segments, dissolve = buffer.inputs
    assert (layer.kind, layer.required, layer.formats, layer.twin) == \
        ("file", True, ("application/gml+xml", "application/geo+json"), None)
    assert (distance.kind, distance.default, distance.minimum, distance.maximum) == ("number", 10.0, 0.0, 1000.0)
    assert (segments.kind, segments.allowed, segments.max_occurs, segments.required) == ("integer", (4, 8), 3, False)
    assert (dissolve.name, dissolve.kind, dissolve.default) == ("dissolve_ref", "boolean", True)  # no file "dissolve"
    assert "distance: number; from 0.0 to 1000.0; default 10.0" in repr(buffer)
    assert [(o.name, o.media_types) for o in buffer.outputs] == \
        [("buffered", ("application/geo+json",)), ("stats", ("application/json",)), ("count", ())]


def test_an_execute_request_sends_each_value_as_it_should(buffer, tmp_path):
    (tmp_path / "layer.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    (tmp_path / "layer.gml").write_text('<?xml version="1.0"?><gml:FeatureCollection '
                                        'xmlns:gml="http://www.opengis.net/gml"/>')
    request = etree.fromstring(execute_request(buffer, {
        "layer": [tmp_path / "layer.geojson", tmp_path / "layer.gml", "https://example.org/l.gml", "roads.gml"],
        "distance": 2.5, "segments": [4, 8], "dissolve_ref": False}))
    inputs = request.findall("wps:DataInputs/wps:Input", NS)
    by_name = [(i.findtext("ows:Identifier", namespaces=NS), i) for i in inputs]
    geojson, gml, url, path = [i for name, i in by_name if name == "layer"]
    data = geojson.find("wps:Data/wps:ComplexData", NS)
    assert (data.get("mimeType"), data.text) == ("application/geo+json", '{"type": "FeatureCollection", "features": []}')
    embedded = gml.find("wps:Data/wps:ComplexData", NS)
    assert embedded.get("mimeType") == "application/gml+xml" and embedded[0].tag.endswith("FeatureCollection")
    assert url.find("wps:Reference", NS).get("{http://www.w3.org/1999/xlink}href") == "https://example.org/l.gml"
    assert path.findtext("wps:Data/wps:LiteralData", namespaces=NS) == "roads.gml"
    literals = [(name, i.findtext("wps:Data/wps:LiteralData", namespaces=NS)) for name, i in by_name if name != "layer"]
    assert literals == [("distance", "2.5"), ("segments", "4"), ("segments", "8"), ("dissolve_ref", "false")]
    form = request.find("wps:ResponseForm/wps:ResponseDocument", NS)
    assert (form.get("storeExecuteResponse"), form.get("status")) == ("true", "true")
    assert [(o.findtext("ows:Identifier", namespaces=NS), o.get("asReference")) for o in form] == \
        [("buffered", "true"), ("stats", "false"), ("count", None)]


def test_a_bad_upload_is_said_before_anything_is_sent(buffer, tmp_path):
    with pytest.raises(FileNotFoundError, match="no file"):
        execute_request(buffer, {"layer": tmp_path / "nothing.gml"})
    (tmp_path / "broken.gml").write_text("<gml:FeatureCollection")
    with pytest.raises(ValueError, match="broken.gml is not the XML that application/gml"):
        execute_request(buffer, {"layer": tmp_path / "broken.gml"})
    (tmp_path / "entity.gml").write_text('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                                         '<gml:FeatureCollection xmlns:gml="http://www.opengis.net/gml">&e;'
                                         '</gml:FeatureCollection>')
    with pytest.raises(ValueError, match="entity.gml uses entities"):  # never read, nor sent unresolved
        execute_request(buffer, {"layer": tmp_path / "entity.gml"})


def response(status_xml, outputs_xml=""):
    return parse(f"""<wps:ExecuteResponse xmlns:wps="http://www.opengis.net/wps/1.0.0"
        xmlns:ows="http://www.opengis.net/ows/1.1" xmlns:xlink="http://www.w3.org/1999/xlink"
        statusLocation="http://host/status/42.xml"><!-- a comment first -->
        <wps:Process><ows:Identifier>Buffer</ows:Identifier></wps:Process>
        <wps:Status creationTime="2026-01-01T00:00:00Z"><!-- here too -->{status_xml}</wps:Status>
        {outputs_xml}</wps:ExecuteResponse>""".encode())


def test_status_documents_give_state_progress_and_failures():
    assert status(response("<wps:ProcessAccepted>queued</wps:ProcessAccepted>")) == \
        {"status": "accepted", "message": "queued", "progress": 0}
    assert status(response('<wps:ProcessStarted percentCompleted="42.5">half</wps:ProcessStarted>'))["progress"] == 42
    assert status(response("<wps:ProcessSucceeded>done</wps:ProcessSucceeded>"))["progress"] == 100
    failed = status(response(
        '<wps:ProcessFailed><ows:ExceptionReport><ows:Exception exceptionCode="ServerBusy" locator="layer">'
        "<ows:ExceptionText>too many jobs</ows:ExceptionText></ows:Exception></ows:ExceptionReport></wps:ProcessFailed>"))
    assert (failed["status"], failed["code"], failed["locator"], failed["message"]) == \
        ("failed", "ServerBusy", "layer", "ServerBusy: too many jobs")


def test_outputs_by_reference_and_embedded():
    found = outputs(response("<wps:ProcessSucceeded/>", """<wps:ProcessOutputs>
        <wps:Output><ows:Identifier>buffered</ows:Identifier>
          <wps:Reference xlink:href="http://host/out/b.geojson" mimeType="application/geo+json"/></wps:Output>
        <wps:Output><ows:Identifier>stats</ows:Identifier>
          <wps:Data><wps:ComplexData mimeType="application/json">{"n": 3}</wps:ComplexData></wps:Data></wps:Output>
        <wps:Output><ows:Identifier>raw</ows:Identifier>
          <wps:Data><wps:ComplexData mimeType="image/png" encoding="base64">AAEC</wps:ComplexData></wps:Data></wps:Output>
        <wps:Output><ows:Identifier>count</ows:Identifier>
          <wps:Data><wps:LiteralData dataType="xs:integer">7</wps:LiteralData></wps:Data></wps:Output>
        </wps:ProcessOutputs>"""))
    assert found == [("buffered", "http://host/out/b.geojson", None, "application/geo+json"),
                     ("stats", None, {"n": 3}, "application/json"), ("raw", None, b"\0\1\2", "image/png"),
                     ("count", None, 7, None)]


def test_an_exception_report_is_a_server_error():
    with pytest.raises(ServerError) as refused:
        parse(b'<ows:ExceptionReport xmlns:ows="http://www.opengis.net/ows/1.1"><ows:Exception '
              b'exceptionCode="NoSuchProcess" locator="identifier"><ows:ExceptionText>No Buffer</ows:ExceptionText>'
              b"</ows:Exception></ows:ExceptionReport>")
    assert (refused.value.code, refused.value.locator, refused.value.message) == \
        ("NoSuchProcess", "identifier", "No Buffer")
    with pytest.raises(ServerError, match="InvalidResponse: the server's answer is not XML"):
        parse(b"<html>oops")
