"""WPS 1.0.0 (OGC 05-007r7) where PyWPS departs from it: KVP output syntax, required version
and identifier, literal and complex input errors, complex inputs sent as text, embedded outputs,
lineage and serviceInstance. In-process, driven by raw requests and by OWSLib's own request
documents; every response schema-validated."""

import base64
from urllib.parse import quote, urlsplit
from xml.sax.saxutils import escape

import pytest
import rasterio
from lxml import etree
from owslib.wps import WPSExecution

from helpers.webserver import body, serving
from helpers.schemas import assert_valid
from helpers.wps import NS, data_inputs, exception_text, execute_xml, kvp, output_path, post, wait_for_end


def refused(response, code, locator):
    assert response.status_code == 400, response.data[:500]
    doc = assert_valid(response.data)
    assert doc.xpath("//ows:Exception/@exceptionCode", namespaces=NS) == [code]
    assert doc.xpath("//ows:Exception/@locator", namespaces=NS) == [locator]
    return exception_text(doc)


def succeeded(response):
    doc = assert_valid(response.data)
    assert doc.xpath("//wps:ProcessSucceeded", namespaces=NS), exception_text(doc) or response.data[:2000]
    return doc


def owslib_request(identifier, inputs, output=None, mode="sync", lineage=False):
    """The Execute document OWSLib's ``wps.execute(...)`` sends for these arguments."""
    from owslib.wps import ASYNC, SYNC

    request = WPSExecution().buildRequest(identifier, inputs, output=output, lineage=lineage,
                                          mode=SYNC if mode == "sync" else ASYNC)
    return etree.tostring(request)


def jpeg2tiff_kvp(wps, product_zip, data_root, **params):
    inputs = data_inputs(product_ref=product_zip.relative_to(data_root), bands="B02", resolution=60)
    return kvp(wps, request="Execute", identifier="Jpeg2Tiff", DataInputs=inputs, **params)


def output_of(doc, identifier):
    found = doc.xpath(f"//wps:ProcessOutputs/wps:Output[ows:Identifier='{identifier}']", namespaces=NS)
    return found[0] if found else None


# 1. KVP ResponseDocument and RawDataOutput in the standard's syntax


@pytest.mark.parametrize("document", ["image@asReference=true", "image=@asReference=true",
                                      "image@asReference=true@mimeType=image/tiff;metadata"])
def test_kvp_response_document_in_the_standards_syntax(wps, product_zip, data_root, server_root, document):
    doc = succeeded(jpeg2tiff_kvp(wps, product_zip, data_root, ResponseDocument=document))
    reference = output_of(doc, "image").find("wps:Reference", NS)
    assert reference is not None, "asked by reference"
    with rasterio.open(output_path(reference.get("href"), server_root)) as image:
        assert image.descriptions == ("B02",)
    if "mimeType" in document:
        assert reference.get("mimeType") == "image/tiff"
        assert output_of(doc, "metadata").xpath(".//wps:ComplexData", namespaces=NS), "listed: embedded"
    else:
        assert output_of(doc, "metadata") is None, "only the listed outputs"


def test_kvp_raw_data_output_in_the_standards_syntax(wps, product_zip, data_root):
    response = jpeg2tiff_kvp(wps, product_zip, data_root, RawDataOutput="image@mimeType=image/tiff")
    assert response.status_code == 200
    assert response.headers["Content-Type"].split(";")[0] == "image/tiff"
    assert response.data[:4] in (b"II*\x00", b"MM\x00*")


@pytest.mark.parametrize("params", [dict(ResponseDocument="image@asReference=maybe"),
                                    dict(ResponseDocument="image@asReferense=true"),
                                    dict(RawDataOutput="image@asReference=true"),
                                    dict(RawDataOutput="image;metadata")])
def test_kvp_output_mistakes_are_invalid_parameter_values(wps, product_zip, data_root, params):
    [(parameter, value)] = params.items()
    text = refused(jpeg2tiff_kvp(wps, product_zip, data_root, **params), "InvalidParameterValue", parameter)
    assert parameter in text


def test_kvp_output_attributes_are_percent_decoded():
    from processes.wpsrequest import kvp_outputs

    # A value holding ';', '@' or '=' is percent-encoded inside the (itself encoded) parameter.
    outputs = kvp_outputs(f"image@mimeType={quote('image/tiff; subtype=geotiff')}@asReference=1;metadata", raw=False)
    assert outputs["image"]["mimetype"] == "image/tiff; subtype=geotiff"
    assert outputs["image"]["asReference"] == "true"
    assert outputs["metadata"]["asReference"] == "false"
    assert kvp_outputs("image@mimeType=image/tiff", raw=True) == {
        "image": {"image": "", "mimetype": "image/tiff", "encoding": "", "schema": "", "uom": ""}}


# 2, 3. version and identifier


def no_version(xml):
    return xml.replace(' version="1.0.0"', "", 1)


DESCRIBE_XML = ('<wps:DescribeProcess service="WPS" version="1.0.0" xmlns:wps="http://www.opengis.net/wps/1.0.0" '
                'xmlns:ows="http://www.opengis.net/ows/1.1"><ows:Identifier>Jpeg2Tiff</ows:Identifier>'
                '</wps:DescribeProcess>')


@pytest.mark.parametrize("how", ["describe-kvp", "execute-kvp", "describe-xml", "execute-xml"])
def test_describe_process_and_execute_need_a_version(wps, product_zip, how):
    if how.endswith("kvp"):
        operation = "DescribeProcess" if how.startswith("describe") else "Execute"
        response = wps.get(f"/wps?service=WPS&request={operation}&identifier=Jpeg2Tiff"
                           f"&DataInputs=product_ref={product_zip}")
    else:
        xml = DESCRIBE_XML if how.startswith("describe") else \
            execute_xml("Jpeg2Tiff", [("product_ref", str(product_zip))])
        response = post(wps, no_version(xml))
    assert "version" in refused(response, "MissingParameterValue", "version")


def test_a_version_not_served_is_refused(wps):
    for operation in ("DescribeProcess", "Execute"):
        response = wps.get(f"/wps?service=WPS&version=2.0.0&request={operation}&identifier=Jpeg2Tiff")
        assert "1.0.0" in refused(response, "InvalidParameterValue", "version")


def test_get_capabilities_needs_no_version(wps):
    doc = assert_valid(wps.get("/wps?service=WPS&request=GetCapabilities").data)
    assert etree.QName(doc).localname == "Capabilities"


def test_execute_without_identifier_is_a_missing_parameter(wps):
    refused(wps.get("/wps?service=WPS&version=1.0.0&request=Execute&DataInputs=bands=B02"),
            "MissingParameterValue", "identifier")
    xml = execute_xml("Jpeg2Tiff", [("bands", "B02")]).replace("<ows:Identifier>Jpeg2Tiff</ows:Identifier>", "")
    refused(post(wps, xml), "MissingParameterValue", "identifier")


# 4. Literals that are not of their type


@pytest.mark.parametrize("process, identifier, value, expected", [
    ("Jpeg2Tiff", "resolution", "sixty", "integer"),
    ("Jpeg2Tiff", "resolution", "60.5", "integer"),
    ("SARChangeDetect", "alpha", "abc", "float"),
])
def test_unparsable_literals_name_the_input_and_its_type(wps, product_zip, process, identifier, value, expected):
    product = "images_ref" if process == "SARChangeDetect" else "product_ref"
    response = kvp(wps, request="Execute", identifier=process,
                   DataInputs=data_inputs(**{product: product_zip.name, identifier: value}))
    text = refused(response, "InvalidParameterValue", identifier)
    assert f"Input {identifier}" in text and value in text and expected in text


# 5. Complex inputs sent as literal text


@pytest.fixture(scope="module")
def product_url(product_zip):
    with serving({"/S2/product.zip": body(product_zip.read_bytes())}) as (base, seen):
        yield f"{base}/S2/product.zip", seen


def test_owslib_plain_string_url_for_a_complex_input_is_fetched_as_a_reference(wps, product_url, server_root):
    """``wps.execute("Jpeg2Tiff", [("product", "https://...")])``: OWSLib sends wps:LiteralData."""
    url, seen = product_url
    request = owslib_request("Jpeg2Tiff", [("product", url), ("bands", "B03"), ("resolution", "60")],
                             output=[("image", True)])
    assert b"LiteralData" in request
    doc = succeeded(post(wps, request))
    assert ("GET", "/S2/product.zip", b"") in seen, "fetched by the job, like an xlink:href"
    href = output_of(doc, "image").find("wps:Reference", NS).get("href")
    with rasterio.open(output_path(href, server_root)) as image:
        assert image.descriptions == ("B03",)


@pytest.mark.parametrize("how", ["relative", "absolute", "file-url"])
def test_kvp_server_path_for_a_complex_input_is_a_reference(wps, product_zip, data_root, how):
    text = {"relative": str(product_zip.relative_to(data_root)), "absolute": str(product_zip),
            "file-url": product_zip.as_uri()}[how]
    response = kvp(wps, request="Execute", identifier="Jpeg2Tiff", ResponseDocument="metadata",
                   DataInputs=data_inputs(product=text, bands="B02", resolution=60))
    doc = succeeded(response)
    assert output_of(doc, "metadata").xpath(".//wps:ComplexData/text()", namespaces=NS)


@pytest.mark.parametrize("text", ["not a product", "missing/product.zip", "s3://bucket/product.zip"])
def test_other_text_for_a_complex_input_says_how_to_send_it(wps, text):
    xml = execute_xml("Jpeg2Tiff", [("product", text)], outputs=[("image", True)])
    message = refused(post(wps, xml), "InvalidParameterValue", "product")
    assert "Input product" in message and "reference" in message and "mimeType" in message


def test_a_path_outside_the_data_roots_is_refused_like_a_file_href(wps):
    for product in ("/etc/passwd", "file:///etc/passwd"):
        text = refused(post(wps, execute_xml("Jpeg2Tiff", [("product", product)])), "FileURLNotSupported", "product")
        assert "data roots" in text and "passwd" not in text


# 6. Embedded complex outputs


def test_an_output_listed_without_as_reference_is_embedded(wps, product_zip):
    """OWSLib ``output=[('image', None, None)]`` lists the output without asReference (default false)."""
    request = owslib_request("Jpeg2Tiff", [("product_ref", str(product_zip)), ("bands", "B04"),
                                           ("resolution", "60")], output=[("image", None, None)])
    data = output_of(succeeded(post(wps, request)), "image").find("wps:Data/wps:ComplexData", NS)
    assert data.get("encoding") == "base64"
    with rasterio.MemoryFile(base64.b64decode(data.text)) as memory, memory.open() as image:
        assert image.descriptions == ("B04",)


def test_an_output_over_maxembedded_fails_the_job_saying_to_ask_a_reference(wps, product_zip, candela_settings):
    candela_settings(maxembedded="0.001mb")
    xml = execute_xml("Jpeg2Tiff", [("product_ref", str(product_zip)), ("bands", "B04"), ("resolution", "60")],
                      outputs=[("image", False)])
    doc = assert_valid(post(wps, xml).data)
    assert doc.xpath("//wps:ProcessFailed", namespaces=NS)
    text = exception_text(doc)
    assert "Output image" in text and "asReference=true" in text


def test_with_no_outputs_listed_rasters_come_by_reference(wps, product_zip, server_root):
    """The QGIS plugin: ``execute(id, inputs, output=[])``, async."""
    request = owslib_request("Jpeg2Tiff", [("product_ref", str(product_zip)), ("bands", "B02"),
                                           ("resolution", "60")], output=[], mode="async")
    accepted = assert_valid(post(wps, request).data)
    status = wait_for_end(output_path(accepted.get("statusLocation"), server_root))
    assert status.xpath("//wps:ProcessSucceeded", namespaces=NS)
    assert output_of(status, "image").find("wps:Reference", NS) is not None
    assert output_of(status, "metadata").find("wps:Data/wps:ComplexData", NS) is not None


def test_embedded_json_is_escaped(wps, data_root):
    odd = data_root / "a&b<c.tif"
    odd.write_bytes(b"not an image")
    xml = execute_xml("ExtractInfo", [("images_ref", escape(odd.name))], outputs=[("pairs", False)])
    doc = succeeded(post(wps, xml))
    pairs = output_of(doc, "pairs").findtext("wps:Data/wps:ComplexData", namespaces=NS)
    assert '"a&b<c.tif"' in pairs


# 7, 8. Lineage and serviceInstance


def test_lineage_echoes_the_inputs_as_sent_and_service_instance_works(wps, product_zip, data_root):
    relative = str(product_zip.relative_to(data_root))
    xml = execute_xml("Jpeg2Tiff", [("product", relative), ("bands", "B02")], outputs=[("metadata", False)])
    doc = succeeded(post(wps, xml.replace("<wps:ResponseDocument>", '<wps:ResponseDocument lineage="true">')))
    echoed = [(i.findtext("ows:Identifier", namespaces=NS), i.findtext("wps:Data/wps:LiteralData", namespaces=NS))
              for i in doc.xpath("//wps:DataInputs/wps:Input", namespaces=NS)]
    assert echoed == [("product", relative), ("bands", "B02")], "as sent: no defaults (resolution, mask_clouds)"

    url = doc.get("serviceInstance")
    assert "&amp;" not in url
    parts = urlsplit(url)
    capabilities = assert_valid(wps.get(f"{parts.path}?{parts.query}").data)
    assert etree.QName(capabilities).localname == "Capabilities"


def test_lineage_echoes_references_and_every_value(wps, product_zip, data_root):
    relative = str(product_zip.relative_to(data_root))
    xml = execute_xml("ExtractInfo", [("images", ("href", product_zip.as_uri())), ("images_ref", relative),
                                      ("images_ref", relative)], outputs=[("pairs", False)])
    doc = succeeded(post(wps, xml.replace("<wps:ResponseDocument>", '<wps:ResponseDocument lineage="true">')))
    inputs = doc.xpath("//wps:DataInputs/wps:Input", namespaces=NS)
    assert [i.findtext("ows:Identifier", namespaces=NS) for i in inputs] == ["images", "images_ref", "images_ref"]
    assert inputs[0].find("wps:Reference", NS).get("{%s}href" % NS["xlink"]) == product_zip.as_uri()


def test_lineage_of_embedded_xml_text_keeps_the_response_well_formed(wps):
    embedded = ('<wps:Data><wps:ComplexData mimeType="image/tiff">'
                '<![CDATA[<?xml version="1.0"?><!DOCTYPE a><a>not an image</a>]]></wps:ComplexData></wps:Data>')
    xml = execute_xml("ExtractInfo", [("images", "PLACEHOLDER")], outputs=[("pairs", False)])
    xml = xml.replace("<wps:Data><wps:LiteralData>PLACEHOLDER</wps:LiteralData></wps:Data>", embedded)
    doc = succeeded(post(wps, xml.replace("<wps:ResponseDocument>", '<wps:ResponseDocument lineage="true">')))
    echoed = doc.xpath("//wps:DataInputs//wps:ComplexData", namespaces=NS)[0]
    assert [etree.QName(e).localname for e in echoed] == ["a"] and echoed[0].text == "not an image"


# The patch behind CandelaRequest


def test_the_fixes_refuse_another_pywps_version(monkeypatch):
    import pywps

    from processes import pywps_fixes

    monkeypatch.setattr(pywps, "__version__", "4.9.0")
    with pytest.raises(RuntimeError, match="4.8.1"):
        pywps_fixes.apply()


def test_a_template_fix_that_no_longer_applies_stops_the_server_starting(monkeypatch):
    from processes import pywps_fixes

    pywps_fixes.apply()  # every fix applies to the PyWPS installed
    template = "1.0.0/execute/main.xml"
    changed = [*pywps_fixes.TEMPLATE_FIXES[template], ("<wps:NoSuchElement>", "")]
    monkeypatch.setitem(pywps_fixes.TEMPLATE_FIXES, template, changed)
    with pytest.raises(pywps_fixes.TemplateFixFailed, match="NoSuchElement"):
        pywps_fixes.apply()
