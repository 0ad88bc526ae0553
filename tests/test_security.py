"""Server paths, archives, XML and sizes: what a hostile or careless client can send."""

import http.server
import io
import json
import os
import re
import threading
import zipfile
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from candela.references.download import FETCH_FAILED
from candela.datasets.synthetic_s2 import write_product
from processes.job import Job, OutsideJobFolders
from helpers.rasters import landscape, write_optical
from helpers.schemas import assert_valid
from helpers.webserver import body, serving
from helpers.wps import NS, exception_text, execute_xml, failed_text, output_path, outputs_of, post


@pytest.fixture(scope="module")
def secret(server_root, data_root):
    """A sibling folder whose name starts like the data root's: ``data_secret``."""
    folder = data_root.parent / (data_root.name + "_secret")
    folder.mkdir(exist_ok=True)
    product = write_product(folder, level="L2A", size_10m=60,
                            sensing_time=datetime(2020, 1, 1, tzinfo=timezone.utc), zipped=True)
    (folder / "password.txt").write_text("TOP-SECRET-VALUE")
    return folder, product


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    """A small HTTP server on 127.0.0.1 serving a folder: (base url, folder)."""
    folder = tmp_path_factory.mktemp("web")
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", folder
    server.shutdown()


def extract_info(wps, *inputs):
    return post(wps, execute_xml("ExtractInfo", list(inputs), outputs=[("pairs", False)]))


def test_file_reference_outside_the_data_roots_is_refused(wps, secret):
    _, product = secret
    response = extract_info(wps, ("images", ("href", product.as_uri())))
    assert response.status_code == 400
    assert "TOP-SECRET" not in response.data.decode()


def test_file_reference_inside_a_data_root_is_accepted(wps, data_root):
    product = write_product(data_root, level="L2A", size_10m=60, tile="T32TQM",
                            sensing_time=datetime(2020, 2, 2, tzinfo=timezone.utc), zipped=True)
    doc = assert_valid(extract_info(wps, ("images", ("href", product.as_uri()))).data)
    result = json.loads(doc.xpath("//wps:ComplexData/text()", namespaces=NS)[0])
    assert [g["acquisitions"][0]["images"] for g in result["groups"]] == [[product.as_uri()]]


@pytest.mark.parametrize("name, process, inputs, outputs", [
    ("pairs.json", "ExtractInfo", lambda f, path: [("images", ("href", f.as_uri()))], [("pairs", True)]),
    ("pairs.json", "ExtractInfo", lambda f, path: [("images", path)], [("pairs", True)]),
    ("change_map.tif", "ChangeDetect", lambda f, path: [("before", ("href", f.as_uri())), ("after_ref", path)],
     [("change_map", True)]),
])
def test_outputs_are_never_written_through_links_to_inputs(wps, data_root, name, process, inputs, outputs):
    """PyWPS links a file:// input into the job's work folder under its own name: an output
    of the same name must not be written through that link into the data root."""
    folder = data_root / f"victim-{process}-{len(outputs)}-{name}"
    folder.mkdir(exist_ok=True)
    victim = folder / name
    if name.endswith(".tif"):
        write_optical(victim, landscape((32, 32)))
    else:
        victim.write_text("the operator's own file")
    before = victim.read_bytes()
    request = execute_xml(process, inputs(victim, str(victim.relative_to(data_root))), outputs=outputs)
    doc = assert_valid(post(wps, request).data)
    assert doc.xpath("//wps:ProcessSucceeded", namespaces=NS), exception_text(doc)
    assert victim.read_bytes() == before


def test_a_server_path_sent_as_text_is_named_as_sent_never_by_its_real_path(wps, data_root):
    (data_root / "notes").mkdir(exist_ok=True)
    (data_root / "notes" / "readme.txt").write_text("not an image")
    doc = assert_valid(extract_info(wps, ("images", "notes/readme.txt")).data)
    result = doc.xpath("//wps:ComplexData/text()", namespaces=NS)[0]
    assert [r["name"] for r in json.loads(result)["rejected"]] == ["notes/readme.txt"]
    assert str(data_root) not in result


@pytest.mark.parametrize("how", ["absolute", "relative", "file-url"])
def test_sibling_prefix_and_dotdot_paths_are_refused(wps, data_root, secret, how):
    _, product = secret
    reference = {"absolute": str(product), "relative": f"../{product.parent.name}/{product.name}",
                 "file-url": product.as_uri()}[how]
    text = failed_text(extract_info(wps, ("images_ref", reference)))
    assert "images_ref" in text and "data root" in text
    assert str(product.parent) not in text


@pytest.mark.parametrize("href", ["file:innocent.zip", "file:///{root}/%2e%2e/secret/product.zip"])
def test_file_references_that_would_be_checked_and_opened_differently_are_refused(wps, data_root, href):
    """PyWPS opens a file href as written (relative to its working folder, not unquoted):
    only plain absolute paths are accepted, so what is checked is what is opened."""
    response = post(wps, execute_xml("ExtractInfo", [("images", ("href", href.format(root=data_root)))]))
    assert response.status_code == 400
    assert "plain absolute paths" in exception_text(assert_valid(response.data))


def test_symlink_escaping_a_data_root_is_refused(wps, data_root, secret):
    folder, product = secret
    link = data_root / "innocent.zip"
    if not link.exists():
        link.symlink_to(product)
    assert "data root" in failed_text(extract_info(wps, ("images_ref", str(link))))
    assert post(wps, execute_xml("ExtractInfo", [("images", ("href", link.as_uri()))])).status_code == 400


def test_xml_external_entities_are_not_expanded(wps, secret):
    folder, _ = secret
    xml = execute_xml("ExtractInfo", [("images_ref", "&secret;")], outputs=[("pairs", False)])
    xml = xml.replace('<?xml version="1.0" encoding="UTF-8"?>',
                      '<?xml version="1.0" encoding="UTF-8"?>'
                      f'<!DOCTYPE wps:Execute [<!ENTITY secret SYSTEM "{(folder / "password.txt").as_uri()}">]>')
    response = post(wps, xml)
    assert "TOP-SECRET" not in response.data.decode()


def zip_bytes(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def test_zip_slip_upload_is_refused_and_writes_nothing_outside(wps, server_root):
    evil = zip_bytes([("S2A_MSIL2A_X.SAFE/MTD_MSIL2A.xml", b"<x/>"), ("../../../escaped.txt", b"owned")])
    xml = execute_xml("Jpeg2Tiff", [("product", ("b64", evil, "application/zip"))], outputs=[("image", True)])
    text = failed_text(post(wps, xml))
    assert "product" in text
    assert not any(p.name == "escaped.txt" for p in server_root.rglob("escaped.txt"))


def test_zip_bomb_upload_is_refused(wps):
    # 100 MB of zeros: about 100 kB compressed, beyond 4x the 20 MB input limit once unpacked.
    bomb = zip_bytes([("S2A_MSIL2A_X.SAFE/B02.jp2", b"\0" * (100 * 2**20))])
    text = failed_text(post(wps, execute_xml("Jpeg2Tiff", [("product", ("b64", bomb, "application/zip"))],
                                             outputs=[("image", True)])))
    assert "product" in text


def test_oversized_reference_is_refused(wps, web):
    base, folder = web
    with open(folder / "huge.zip", "wb") as huge:
        huge.truncate(21 * 2**20)  # above the test server's 20 MB maxsingleinputsize
    for inputs in ([("images", ("href", f"{base}/huge.zip"))], [("images_ref", f"{base}/huge.zip")]):
        text = failed_text(post(wps, execute_xml("ExtractInfo", inputs, outputs=[("pairs", False)])))
        assert "images" in text and "allowed" in text


def test_oversized_request_is_refused(wps):
    blob = os.urandom(31 * 2**20)  # above maxrequestsize (30 MB) once base64-encoded, too
    response = post(wps, execute_xml("Jpeg2Tiff", [("product", ("b64", blob, "application/zip"))]))
    assert response.status_code in (400, 413)
    assert_valid(response.data)


def test_error_page_behind_a_reference_is_not_taken_as_input(wps, web):
    base, _ = web
    for inputs in ([("images", ("href", f"{base}/missing.tif"))], [("images_ref", f"{base}/missing.tif")]):
        text = failed_text(post(wps, execute_xml("ExtractInfo", inputs, outputs=[("pairs", False)])))
        # The status is not told: it would tell which hosts and ports answer (see test_fetch).
        assert "images" in text and FETCH_FAILED in text and "404" not in text


def test_html_page_given_as_product_is_rejected_clearly(wps, web):
    base, folder = web
    (folder / "page.zip").write_text("<html><body>Login required</body></html>")
    text = failed_text(post(wps, execute_xml("Jpeg2Tiff", [("product_ref", f"{base}/page.zip")],
                                             outputs=[("image", True)])))
    assert "product_ref" in text or "product" in text
    assert "not a zipped SAFE" in text


# Output files are named by our code, and published only from the job's own folders


SAFE_NAME = "S2_T31TCJ_20200101_60m.tif"


@pytest.fixture(scope="module")
def plain_product(tmp_path_factory):
    return write_product(tmp_path_factory.mktemp("uri"), level="L2A", size_10m=60, bands=("B02",),
                         sensing_time=datetime(2020, 1, 1, tzinfo=timezone.utc), zipped=True)


def with_product_uri(product, uri):
    """The bytes of a copy of a zipped product whose metadata give ``uri`` as PRODUCT_URI."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(product) as source, zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith("/MTD_MSIL2A.xml"):
                data, count = re.subn(rb"<PRODUCT_URI>[^<]*</PRODUCT_URI>",
                                      f"<PRODUCT_URI>{escape(uri)}</PRODUCT_URI>".encode(), data)
                assert count == 1
            target.writestr(info, data)
    return buffer.getvalue()


def convert_upload(wps, data):
    xml = execute_xml("Jpeg2Tiff", [("product", ("b64", data, "application/zip")), ("bands", "B02"),
                                    ("resolution", "60")], outputs=[("image", True)])
    return assert_valid(post(wps, xml).data)


def all_files(folder):
    return {p for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("how", ["absolute", "parent", "other-job"])
def test_product_uri_never_names_the_output_file(wps, plain_product, server_root, tmp_path, how):
    victim = convert_upload(wps, plain_product.read_bytes())
    victim_file = output_path(outputs_of(victim)["image"], server_root)
    victim_bytes = victim_file.read_bytes()
    # The old name was PRODUCT_URI + "_60m.tif": aim it at the other job's output.
    stem = victim_file.name[: -len("_60m.tif")]
    uri = {"absolute": str(tmp_path / "evil"), "parent": "../evil",
           "other-job": f"../../outputs/{victim_file.parent.name}/{stem}"}[how]
    everywhere = server_root.parent  # the session's temporary folder: the server's and the test's
    before = all_files(everywhere)

    doc = convert_upload(wps, with_product_uri(plain_product, uri))

    assert doc.xpath("//wps:ProcessSucceeded", namespaces=NS), exception_text(doc)
    image = output_path(outputs_of(doc)["image"], server_root)
    assert image.name == SAFE_NAME and image.parent.name != victim_file.parent.name
    assert victim_file.read_bytes() == victim_bytes
    job_folder = image.parent
    assert {p for p in all_files(everywhere) - before if job_folder not in p.parents} == set()


def test_a_file_outside_the_job_folders_is_an_internal_error(wps_app, server_root):
    from pywps.tests import client_for

    from helpers.processes import ESCAPER
    from processes.service import CandelaService
    from processes.wps import WpsProcess

    escaper = client_for(CandelaService([WpsProcess(ESCAPER)]))
    doc = assert_valid(post(escaper, execute_xml("Escaper", [("name", "escaped-1.tif")],
                                                 outputs=[("image", True)])).data)
    assert doc.xpath("//wps:ProcessFailed", namespaces=NS)
    text = exception_text(doc)
    assert "Internal error in Escaper" in text and "escaped" not in text, text
    assert not list((server_root / "outputs").rglob("escaped-1.tif")), "nothing was published"


def test_a_job_publishes_only_from_its_own_folders(wps_app, server_root, tmp_path):
    workdir = tmp_path / "job"
    workdir.mkdir()
    (tmp_path / "job0").mkdir()
    (tmp_path / "secret.tif").write_text("x")
    (workdir / "link.tif").symlink_to(tmp_path / "secret.tif")
    outputs = server_root / "outputs"
    job = Job(None, {}, workdir, outputs / "u1")
    for inside in (workdir / "a.tif", workdir / "sub" / "b.tif", outputs / "u1" / "c.tif"):
        assert job.inside(inside) == Path(os.path.realpath(inside))
    # Sibling folders whose names merely start like the job's, a way out, a link out, the folders themselves.
    for outside in (tmp_path / "job0" / "a.tif", outputs / "u10" / "a.tif", workdir / ".." / "a.tif",
                    workdir / "link.tif", workdir, outputs / "u1", "/etc/passwd"):
        with pytest.raises(OutsideJobFolders):
            job.inside(outside)


def test_references_to_internal_hosts_are_refused_unless_allowed(wps, candela_settings):
    candela_settings(allowedhosts="")  # the packaged default: public addresses only
    with serving({"/internal.tif": body(b"internal")}) as (base, seen):
        for inputs in ([("images", ("href", f"{base}/internal.tif"))], [("images_ref", f"{base}/internal.tif")]):
            text = failed_text(post(wps, execute_xml("ExtractInfo", inputs, outputs=[("pairs", False)])))
            assert inputs[0][0] in text and FETCH_FAILED in text
        assert seen == []


def test_a_body_reference_is_not_fetched(wps):
    with serving({"/body.xml": body(b"<GetFeature/>"), "/wfs": body(b"features")}) as (base, seen):
        xml = execute_xml("ExtractInfo", [("images", ("href", f"{base}/wfs"))]).replace(
            f'<wps:Reference xlink:href="{base}/wfs"/>',
            f'<wps:Reference xlink:href="{base}/wfs" method="POST">'
            f'<wps:BodyReference xlink:href="{base}/body.xml"/></wps:Reference>')
        response = post(wps, xml)
        assert response.status_code == 400 and "BodyReference" in failed_text(response)
        assert seen == []


def test_the_download_budget_spans_all_references_of_a_request(wps, candela_settings):
    candela_settings(maxdownload="0.01mb")  # 10485 bytes
    with serving({f"/{name}.tif": body(bytes(4000)) for name in "abc"}) as (base, seen):
        inputs = [("images", ("href", f"{base}/a.tif")), ("images_ref", f"{base}/b.tif {base}/c.tif")]
        text = failed_text(post(wps, execute_xml("ExtractInfo", inputs, outputs=[("pairs", False)])))
        assert "Input images_ref: the references of this request add up to more than the 10.2 KiB allowed" in text
        assert len(seen) == 3  # the upload href and the _ref literals share one budget


def test_archive_limits_come_from_the_configuration(wps, data_root, candela_settings):
    product = write_product(data_root / "members", level="L2A", size_10m=60,
                            sensing_time=datetime(2020, 3, 3, tzinfo=timezone.utc), zipped=True)
    candela_settings(maxmembers=5)
    text = failed_text(post(wps, execute_xml("Jpeg2Tiff", [("product_ref", f"members/{product.name}")],
                                             outputs=[("image", True)])))
    assert "Input product" in text and "more than the 5 allowed" in text


def test_pywps_never_fetches_a_reference_itself(wps_app, tmp_path):
    from pywps.exceptions import NoApplicableCode

    from processes.registry import JPEG2TIFF
    from processes.wps import WpsProcess

    product = WpsProcess(JPEG2TIFF).inputs[0].clone()  # as PyWPS makes one per request
    product.workdir = str(tmp_path)
    with serving({"/a.zip": body(b"zip")}) as (base, seen):
        product.url = f"{base}/a.zip"
        with pytest.raises(NoApplicableCode):
            product.file
        assert seen == []
