"""The WPS protocol in-process (pywps.tests.client_for): every response schema-valid."""

import base64
import json
import os
from datetime import datetime, timezone

import rasterio
from lxml import etree

from candela.datasets.synthetic_s2 import write_product
from helpers.paths import shared_path
from helpers.schemas import assert_valid, wps_schema
from helpers.wps import NS, data_inputs, exception_text, execute_xml, kvp, output_path, outputs_of, post, \
    wait_for_end

SENSING = datetime(2021, 6, 1, 10, 30, 21, tzinfo=timezone.utc)


# GetCapabilities and DescribeProcess


def test_responses_are_schema_validated():
    shared_path("ogc-schemas", "schemas.opengis.net", "wps", "1.0.0", "wpsAll.xsd")
    assert wps_schema() is not None


def test_capabilities_are_valid_and_advertise_only_what_is_answered(wps):
    response = kvp(wps, request="GetCapabilities")
    doc = assert_valid(response.data)
    versions = doc.xpath("//ows:ServiceTypeVersion/text()", namespaces=NS)
    assert versions == ["1.0.0"]
    identifiers = set(doc.xpath("//wps:Process/ows:Identifier/text()", namespaces=NS))
    assert {"Jpeg2Tiff", "ExtractInfo"} <= identifiers


def test_describe_process_is_valid_with_versions_abstracts_and_literal_domains(wps):
    response = kvp(wps, request="DescribeProcess", identifier="all")
    doc = assert_valid(response.data)
    processes = doc.xpath("//ProcessDescription")
    assert len(processes) >= 2
    for process in processes:
        name = process.findtext("{%s}Identifier" % NS["ows"])
        assert process.get("{%s}processVersion" % NS["wps"]) not in (None, "", "None"), name
        assert (process.findtext("{%s}Abstract" % NS["ows"]) or "").strip(), name
        assert process.get("storeSupported") == "true" and process.get("statusSupported") == "true"
        for literal in process.xpath(".//LiteralData"):
            domains = literal.xpath("ows:AnyValue|ows:AllowedValues|ows:ValuesReference", namespaces=NS)
            assert len(domains) == 1, name
        complex_ids = process.xpath("DataInputs/Input[ComplexData]/ows:Identifier/text()", namespaces=NS)
        literal_ids = set(process.xpath("DataInputs/Input[LiteralData]/ows:Identifier/text()", namespaces=NS))
        for identifier in complex_ids:
            assert identifier + "_ref" in literal_ids, f"{name}: {identifier} lacks a _ref literal"


def test_unknown_process_is_an_ows_exception(wps):
    response = kvp(wps, request="DescribeProcess", identifier="NoSuchProcess")
    assert response.status_code == 400
    doc = assert_valid(response.data)
    assert doc.xpath("//ows:Exception/@exceptionCode", namespaces=NS) == ["InvalidParameterValue"]


# Execute


def test_execute_kvp_sync_returns_a_reference_to_a_valid_geotiff(wps, product_zip, server_root, data_root):
    ref = product_zip.relative_to(data_root)
    response = kvp(wps, request="Execute", identifier="Jpeg2Tiff",
                   DataInputs=data_inputs(product_ref=ref, bands="B02,B8A", resolution=20),
                   ResponseDocument="image=@asReference=true")
    doc = assert_valid(response.data)
    assert doc.xpath("//wps:ProcessSucceeded", namespaces=NS), response.data
    references = doc.xpath("//wps:Output/wps:Reference", namespaces=NS)
    assert len(references) == 1, "only the requested output is returned"
    assert references[0].get("encoding") is None
    path = output_path(references[0].get("href"), server_root)
    with rasterio.open(path) as image:
        assert image.count == 2
        assert image.descriptions == ("B02", "B8A")
        assert image.res == (20.0, 20.0)
        assert image.tags()["ACQUISITION_DATE"].startswith("2021-06-01T10:30:21")


def test_execute_xml_post_with_uploaded_zip_and_embedded_outputs(wps, product_zip):
    xml = execute_xml("Jpeg2Tiff", [("product", ("b64", product_zip.read_bytes(), "application/zip")),
                                    ("bands", "B04"), ("resolution", "60")],
                      outputs=[("image", False), ("metadata", False)])
    doc = assert_valid(post(wps, xml).data)
    assert doc.xpath("//wps:ProcessSucceeded", namespaces=NS)
    embedded = doc.xpath("//wps:Output[ows:Identifier='image']//wps:ComplexData", namespaces=NS)
    assert embedded, "a raster asked with asReference=false is embedded"
    assert embedded[0].get("encoding") == "base64" and embedded[0].get("mimeType").startswith("image/tiff")
    with rasterio.MemoryFile(base64.b64decode(embedded[0].text)) as memory, memory.open() as image:
        assert image.descriptions == ("B04",) and image.res == (60.0, 60.0)
    metadata = json.loads(doc.xpath("//wps:Output[ows:Identifier='metadata']//wps:ComplexData/text()",
                                    namespaces=NS)[0])
    assert metadata["bands"] == ["B04"]


def test_execute_json_request_and_response(wps, product_zip, data_root):
    body = {"identifier": "Jpeg2Tiff", "version": "1.0.0", "operation": "execute",
            "inputs": {"product_ref": [{"identifier": "product_ref", "data": str(product_zip)}],
                       "bands": [{"identifier": "bands", "data": "B03"}],
                       "resolution": [{"identifier": "resolution", "data": "60"}]},
            "outputs": {"metadata": {"asReference": "false"}}}
    response = wps.post_json("/wps", doc=body)
    assert response.status_code == 200
    answer = json.loads(response.data)
    assert answer["status"]["status"] == "succeeded"
    assert set(answer["outputs"]) == {"metadata"}


def test_empty_optional_literals_mean_not_given(wps, product_zip):
    """The QGIS plugin sends every literal, empty ones included."""
    xml = execute_xml("Jpeg2Tiff", [("product_ref", str(product_zip)), ("bands", ""), ("resolution", ""),
                                    ("aoi", ""), ("mask_clouds", "")], outputs=[("metadata", False)])
    doc = assert_valid(post(wps, xml).data)
    metadata = json.loads(doc.xpath("//wps:ComplexData/text()", namespaces=NS)[0])
    assert metadata["bands"] == ["B02", "B03", "B04", "B08"]


def test_unknown_output_identifier_is_invalid_parameter_value(wps, product_zip):
    for xml in (execute_xml("Jpeg2Tiff", [("product_ref", str(product_zip))], outputs=[("nope", True)]),
                execute_xml("Jpeg2Tiff", [("product_ref", str(product_zip))], raw="nope")):
        response = post(wps, xml)
        assert response.status_code == 400
        doc = assert_valid(response.data)
        assert doc.xpath("//ows:Exception/@exceptionCode", namespaces=NS) == ["InvalidParameterValue"]
        assert "nope" in exception_text(doc)


def test_raw_data_output_streams_the_file(wps, product_zip):
    response = post(wps, execute_xml("Jpeg2Tiff", [("product_ref", str(product_zip)), ("bands", "B02"),
                                                   ("resolution", "60")], raw="image"))
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("image/tiff")
    assert response.data[:4] in (b"II*\x00", b"MM\x00*")


def test_failure_names_the_input_in_a_valid_process_failed(wps, product_zip):
    xml = execute_xml("Jpeg2Tiff", [("product_ref", str(product_zip)), ("bands", "B02,B13")],
                      outputs=[("image", True)])
    doc = assert_valid(post(wps, xml).data)
    assert doc.xpath("//wps:ProcessFailed/ows:ExceptionReport", namespaces=NS)
    text = exception_text(doc)
    assert "bands" in text and "B13" in text
    assert "Traceback" not in text and "/" not in text.replace("B01-B12", "")


def test_missing_product_is_reported_naming_both_inputs(wps):
    doc = assert_valid(post(wps, execute_xml("Jpeg2Tiff", [("bands", "B02")], outputs=[("image", True)])).data)
    assert "product_ref" in exception_text(doc)


def test_async_execution_accepted_then_succeeds_with_valid_status_documents(wps, product_zip, server_root):
    xml = execute_xml("Jpeg2Tiff", [("product_ref", str(product_zip)), ("bands", "B02"), ("resolution", "60")],
                      outputs=[("image", True)], status=True)
    doc = assert_valid(post(wps, xml).data)
    accepted = doc.xpath("//wps:ProcessAccepted", namespaces=NS)
    assert accepted and accepted[0].get("percentCompleted") is None
    location = doc.get("statusLocation")
    status_file = output_path(location, server_root)
    assert status_file.exists(), "the status document exists before the accepted answer leaves"
    status = wait_for_end(status_file)
    assert status.xpath("//wps:ProcessSucceeded", namespaces=NS), etree.tostring(status)
    href = status.xpath("//wps:Reference/@href", namespaces=NS)[0]
    with rasterio.open(output_path(href, server_root)) as image:
        assert image.descriptions == ("B02",)


def test_extractinfo_pairs_products_by_reference(wps, data_root):
    folder = data_root / "series"
    folder.mkdir(exist_ok=True)
    later = write_product(folder, level="L2A", size_10m=60, sensing_time=datetime(2021, 7, 1, tzinfo=timezone.utc),
                          zipped=True)
    earlier = write_product(folder, level="L1C", baseline="03.01", size_10m=60,
                            sensing_time=datetime(2021, 5, 1, tzinfo=timezone.utc), zipped=True)
    xml = execute_xml("ExtractInfo", [("images_ref", str(later)), ("images_ref", str(earlier.relative_to(data_root)))],
                      outputs=[("pairs", False)])
    doc = assert_valid(post(wps, xml).data)
    result = json.loads(doc.xpath("//wps:ComplexData/text()", namespaces=NS)[0])
    assert len(result["groups"]) == 1
    pair = result["groups"][0]["pairs"][0]
    assert pair["before"] == str(earlier.relative_to(data_root)) and pair["after"] == str(later)


def test_json_outputs_by_reference_are_files_named_after_the_output(wps, product_zip, server_root):
    xml = execute_xml("Jpeg2Tiff", [("product_ref", str(product_zip)), ("bands", "B02"), ("resolution", "60")],
                      outputs=[("image", True), ("metadata", True)])
    doc = assert_valid(post(wps, xml).data)
    hrefs = outputs_of(doc)
    assert hrefs["metadata"].endswith("/metadata.json"), hrefs
    metadata = json.loads(output_path(hrefs["metadata"], server_root).read_text())
    assert metadata["bands"] == ["B02"] and output_path(hrefs["image"], server_root).suffix == ".tif"


def test_sync_jobs_run_outside_the_server_process(wps, product_zip, monkeypatch):
    """GDAL's thread pool must never start in the server: processes forked from it would hang."""
    monkeypatch.setenv("CANDELA_THREADS", "2")
    threads_before = set(os.listdir("/proc/self/task"))
    xml = execute_xml("Jpeg2Tiff", [("product_ref", str(product_zip)), ("bands", "B02,B03"), ("resolution", "20")],
                      outputs=[("image", True)])
    assert assert_valid(post(wps, xml).data).xpath("//wps:ProcessSucceeded", namespaces=NS)
    assert set(os.listdir("/proc/self/task")) - threads_before == set()


def test_lineage_response_is_valid_with_lowercase_booleans(wps, product_zip):
    response = kvp(wps, request="Execute", identifier="Jpeg2Tiff", lineage="true",
                   DataInputs=data_inputs(product_ref=product_zip.name, bands="B02", resolution=60),
                   ResponseDocument="image=@asReference=true")
    doc = assert_valid(response.data)
    definitions = doc.xpath("//wps:OutputDefinitions/wps:Output", namespaces=NS)
    assert [d.get("asReference") for d in definitions] == ["true"]
    assert doc.xpath("//wps:DataInputs/wps:Input/ows:Identifier/text()", namespaces=NS)


def test_safe_folder_under_a_data_root(wps, data_root, server_root):
    folder = data_root / "unpacked"
    folder.mkdir(exist_ok=True)
    safe = write_product(folder, level="L1C", baseline="03.01", size_10m=60, sensing_time=SENSING)
    assert safe.is_dir() and safe.name.endswith(".SAFE")
    response = kvp(wps, request="Execute", identifier="Jpeg2Tiff",
                   DataInputs=data_inputs(product_ref=f"unpacked/{safe.name}", bands="B8A", resolution=20),
                   ResponseDocument="image=@asReference=true")
    doc = assert_valid(response.data)
    href = doc.xpath("//wps:Reference/@href", namespaces=NS)[0]
    with rasterio.open(output_path(href, server_root)) as image:
        assert image.descriptions == ("B8A",) and image.tags()["PROCESSING_LEVEL"].endswith("1C")
