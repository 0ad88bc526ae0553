"""Requests checked before any job exists: each problem an OWS exception naming the input,
never a silently dropped input, a truncated list, a guessable job id or an HTML error."""

import uuid

import pytest
import requests

from helpers.live import LiveServer, serve
from helpers.paths import ROOT
from helpers.schemas import assert_valid
from helpers.wps import NS, exception_text, execute_xml, post


def refused(response, locator, *words):
    doc = assert_valid(response.data if hasattr(response, "data") else response.content)
    assert response.status_code == 400, response.status_code
    assert doc.xpath("//ows:Exception/@locator", namespaces=NS) == [locator]
    text = exception_text(doc)
    assert all(word in text for word in words), text
    return text


def test_unknown_inputs_are_refused_naming_them(wps, product_zip, server_root):
    before = set((server_root / "work").iterdir())
    xml = execute_xml("Jpeg2Tiff", [("product_ref", f"products/{product_zip.name}"), ("bandz", "B02")],
                      outputs=[("image", True)], status=True)
    refused(post(wps, xml), "bandz", "Unknown input", "bands")
    assert set((server_root / "work").iterdir()) == before, "a refused request leaves no job folder"


@pytest.mark.parametrize("value", ["maybe", "yes please", "2"])
def test_booleans_must_be_booleans(wps, product_zip, value):
    xml = execute_xml("Jpeg2Tiff", [("product_ref", f"products/{product_zip.name}"), ("mask_clouds", value)],
                      outputs=[("image", True)])
    refused(post(wps, xml), "mask_clouds", "not a boolean")


def test_more_values_than_allowed_are_refused_not_cut(wps):
    inputs = [("images_ref", f"image{n}.tif") for n in range(501)]
    refused(post(wps, execute_xml("ExtractInfo", inputs, outputs=[("pairs", False)])), "images_ref",
            "at most 500", "501 given")


def test_job_ids_are_random(wps, product_zip):
    xml = execute_xml("Jpeg2Tiff", [("product_ref", f"products/{product_zip.name}"), ("resolution", "60"),
                                    ("bands", "B02")], outputs=[("image", True)], status=True)
    ids = []
    for _ in range(2):
        location = assert_valid(post(wps, xml).data).get("statusLocation")
        ids.append(uuid.UUID(location.rsplit("/", 1)[1][:-4]))
    assert [i.version for i in ids] == [4, 4] and ids[0] != ids[1]


@pytest.fixture(scope="module")
def live_wsgi(tmp_path_factory):
    root = tmp_path_factory.mktemp("checks")
    (root / "data").mkdir()
    with LiveServer(root, command=serve(ROOT / "wsgi.py"), data_roots=[root / "data"]) as server:
        yield server


def test_a_chunked_post_without_content_length_is_answered(live_wsgi):
    xml = execute_xml("Jpeg2Tiff", [("bands", "B02")], outputs=[("image", True)]).encode()
    response = requests.post(live_wsgi.wps, data=iter([xml[:100], xml[100:]]), timeout=30,
                             headers={"Content-Type": "text/xml"})
    assert "Content-Length" not in response.request.headers  # it went chunked
    doc = assert_valid(response.content)
    assert "product" in exception_text(doc), "parsed and checked like any request"


def test_an_over_long_url_gets_an_ows_exception(live_wsgi):
    for length in (8100, 70000):  # refused by the application, then by the server itself
        response = requests.get(f"{live_wsgi.wps}?service=WPS&request=GetCapabilities&x={'a' * length}",
                                timeout=30)
        assert response.status_code == 414
        doc = assert_valid(response.content)
        assert doc.xpath("//ows:Exception", namespaces=NS), response.text[:300]
