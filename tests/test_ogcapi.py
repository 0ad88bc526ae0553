"""OGC API - Processes at /ogcapi: every endpoint, in-process and on a real server driven with
OWSLib; the same jobs as WPS; every JSON answer validated against the standard's schemas."""

import base64
import configparser
import os
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import pytest
import rasterio
import requests
from owslib.ogcapi.processes import Processes
from pygeoapi.openapi import validate_openapi_document
from rasterio.io import MemoryFile
from werkzeug.test import Client

from candela.jobs.store import DISMISSED, RUNNING
from candela.datasets.synthetic_s2 import write_product
from helpers.jsonschemas import assert_valid
from helpers.live import LiveServer
from helpers.paths import shared_path
from helpers.rasters import day, write_tif
from helpers.schemas import assert_valid as assert_valid_xml
from helpers.webserver import body, serving
import processes
from processes.registry import OPERATIONS
from processes.jobcontrol import store_for_config
from helpers.wps import NS, execute_xml, post

FINAL = ("successful", "failed", "dismissed")


@pytest.fixture(scope="module")
def ogc(wps_app):
    return Client(wps_app)


def get(client, path, status=200, schema=None):
    response = client.get(f"/ogcapi{path}")
    assert response.status_code == status, response.get_data(as_text=True)
    document = response.get_json()
    return assert_valid(document, schema) if schema else document


def execute(client, process, inputs, outputs=None, asynchronous=False, status=200):
    body_ = {"inputs": inputs, **({"outputs": outputs} if outputs else {})}
    response = client.post(f"/ogcapi/processes/{process}/execution", json=body_,
                           headers={"Prefer": "respond-async"} if asynchronous else {})
    assert response.status_code == status, response.get_data(as_text=True)
    return response


def wait(client, job_id, timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        job = get(client, f"/jobs/{job_id}", schema="statusInfo")
        if job["status"] in FINAL:
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.2)


@contextmanager
def raster(client, href):
    """The raster behind an output href of the in-process server, fetched through it."""
    assert href.startswith("http://127.0.0.1:5000/outputs/"), href
    response = client.get(href[len("http://127.0.0.1:5000"):])
    assert response.status_code == 200
    with MemoryFile(response.data) as memory, memory.open() as dataset:
        yield dataset


def refused(response, status, *words):
    assert response.status_code == status, response.get_data(as_text=True)
    document = assert_valid(response.get_json(), "exception")
    assert all(word in document["description"] for word in words), document
    assert "Traceback" not in response.get_data(as_text=True)
    return document


# What the server offers


def test_responses_are_schema_validated():
    shared_path("ogc-schemas", "ogcapi-processes-1.0", "schemas", "statusInfo.yaml")
    assert_valid({"jobID": "x", "status": "accepted", "type": "process"}, "statusInfo")
    with pytest.raises(AssertionError):
        assert_valid({"jobID": "x", "status": "accepted", "type": "process", "finished": None}, "statusInfo")


def test_landing_page_conformance_and_api(ogc):
    landing = get(ogc, "/", schema="landingPage")
    relations = {link["rel"]: link["href"] for link in landing["links"]}
    assert relations["http://www.opengis.net/def/rel/ogc/1.0/processes"] == "http://127.0.0.1:5000/ogcapi/processes"
    assert "data" not in relations, "no link to collections, which are not served"
    for rel in ("service-desc", "conformance", "http://www.opengis.net/def/rel/ogc/1.0/job-list"):
        assert ogc.get(relations[rel][len("http://127.0.0.1:5000"):]).status_code == 200, rel
    conformance = get(ogc, "/conformance", schema="confClasses")["conformsTo"]
    for name in ("core", "ogc-process-description", "json", "oas30", "job-list", "dismiss"):
        assert f"http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/{name}" in conformance
    assert not any(c.endswith(("/callback", "/collections")) for c in conformance), "nothing unserved is claimed"
    assert get(ogc, "/conformance")["conformsTo"] == conformance, "answered alike each time"
    response = ogc.get("/ogcapi/api")
    assert response.headers["Content-Type"].startswith("application/vnd.oai.openapi+json")
    openapi = response.get_json()
    assert validate_openapi_document(openapi)
    assert {"/processes", "/processes/Jpeg2Tiff/execution", "/jobs/{jobId}/results"} <= set(openapi["paths"])
    assert not any(path.startswith("/collections") for path in openapi["paths"])
    assert openapi["servers"][0]["url"] == "http://127.0.0.1:5000/ogcapi"


def test_html_pages_are_answered(ogc):
    for path in ("/", "/processes", "/processes/ExtractInfo", "/jobs", "/conformance"):
        response = ogc.get(f"/ogcapi{path}?f=html")
        assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html"), path


def test_process_list_and_descriptions_are_generated_from_the_declarations(ogc):
    listed = get(ogc, "/processes", schema="processList")["processes"]
    assert [p["id"] for p in listed] == [o.identifier for o in OPERATIONS]
    for summary in listed:
        assert summary["jobControlOptions"] == ["sync-execute", "async-execute", "dismiss"]
        assert summary["outputTransmission"] == ["value", "reference"]
        described = get(ogc, f"/processes/{summary['id']}", schema="process")
        assert described["version"] == "1.0.0" and described["keywords"]
        assert described["jobControlOptions"] == summary["jobControlOptions"]
    jpeg2tiff = get(ogc, "/processes/Jpeg2Tiff")
    inputs, outputs = jpeg2tiff["inputs"], jpeg2tiff["outputs"]
    assert inputs["resolution"]["schema"] == {"type": "integer", "enum": [10, 20, 60], "default": 10}
    assert inputs["resolution"]["minOccurs"] == 0 and inputs["resolution"]["maxOccurs"] == 1
    assert inputs["mask_clouds"]["schema"] == {"type": "boolean", "default": False}
    assert inputs["product"]["minOccurs"] == 1
    assert {"type": "string", "contentEncoding": "binary", "contentMediaType": "application/zip"} in \
        inputs["product"]["schema"]["anyOf"]
    assert outputs["image"]["schema"]["oneOf"][0]["contentMediaType"] == "image/tiff; subtype=geotiff"
    assert outputs["metadata"]["schema"] == {"type": "object", "contentMediaType": "application/json"}
    images = get(ogc, "/processes/ExtractInfo")["inputs"]["images"]
    assert images["maxOccurs"] == 500
    alpha = get(ogc, "/processes/SARChangeDetect")["inputs"]["alpha"]["schema"]
    assert alpha["type"] == "number"


def test_unknown_process_and_job_are_404(ogc):
    refused(ogc.get("/ogcapi/processes/NoSuchProcess"), 404)
    refused(ogc.post("/ogcapi/processes/NoSuchProcess/execution", json={"inputs": {}}), 404)
    for method, path in (("GET", "/jobs/no-such-job"), ("GET", "/jobs/no-such-job/results"),
                         ("DELETE", "/jobs/no-such-job"), ("GET", "/nothing/here")):
        refused(ogc.open(f"/ogcapi{path}", method=method), 404)


# Bad requests, refused before any job exists


@pytest.mark.parametrize("inputs, outputs, words", [
    ({"product": "x.zip", "bandz": "B02"}, None, ("Unknown input 'bandz'", "bands")),
    ({"product": "x.zip", "mask_clouds": "maybe"}, None, ("mask_clouds", "not a boolean")),
    ({"product": "x.zip", "resolution": 30}, None, ("resolution", "30", "10, 20, 60")),
    ({"product": "x.zip", "resolution": {"nested": 1}}, None, ("resolution",)),
    ({"bands": "B02"}, None, ("product", "required")),
    ({"product": {"value": "not base64!", "mediaType": "application/zip"}}, None, ("product", "base64")),
    ({"product": {"value": "AAAA", "mediaType": "image/png"}}, None, ("product", "image/png")),
    ({"product": 5}, None, ("product",)),
    ({"product": {"href": "file:///etc/passwd"}}, None, ("Input product", "data roots")),
    ({"product": ["a.zip", "b.zip"]}, None, ("product", "at most 1")),
    ({"product": "x.zip"}, {"nope": {}}, ("Unknown output 'nope'",)),
    ({"product": "missing.zip"}, None, ("Input product", "'missing.zip' is neither", "mediaType")),
    ({"product": {"href": "missing.zip"}}, None, ("Input product", "'missing.zip' is neither")),
])
def test_bad_requests_are_400_naming_the_input(ogc, server_root, product_zip, inputs, outputs, words):
    # "x.zip" stands for a real product, so that each case is refused for its own fault.
    inputs = {key: str(product_zip) if value == "x.zip" else value for key, value in inputs.items()}
    jobs_before = len(get(ogc, "/jobs?limit=100")["jobs"])
    work_before = set((server_root / "work").iterdir())
    refused(execute(ogc, "Jpeg2Tiff", inputs, outputs, status=400), 400, *words)
    assert len(get(ogc, "/jobs?limit=100")["jobs"]) == jobs_before, "no job was recorded"
    assert set((server_root / "work").iterdir()) == work_before, "nothing was left behind"


def test_a_body_that_is_not_json_is_400(ogc):
    response = ogc.post("/ogcapi/processes/Jpeg2Tiff/execution", data="<xml/>", content_type="application/json")
    refused(response, 400)


# Execution


def test_sync_execution_by_server_path_answers_results_with_a_raster_link(ogc, product_zip, data_root):
    response = execute(ogc, "Jpeg2Tiff", {"product": f"products/{product_zip.name}", "bands": "B02,B8A",
                                          "resolution": 20})
    results = assert_valid(response.get_json(), "results")
    assert set(results) == {"image", "metadata"}
    assert results["image"]["type"] == "image/tiff; subtype=geotiff"
    with raster(ogc, results["image"]["href"]) as image:
        assert image.descriptions == ("B02", "B8A") and image.res == (20.0, 20.0)
    assert results["metadata"]["mediaType"] == "application/json"
    assert results["metadata"]["value"]["bands"] == ["B02", "B8A"]
    job_id = response.headers["Location"].rsplit("/", 1)[1]
    job = get(ogc, f"/jobs/{job_id}", schema="statusInfo")
    assert job["status"] == "successful" and job["progress"] == 100 and job["processID"] == "Jpeg2Tiff"
    assert get(ogc, f"/jobs/{job_id}/results", schema="results") == results
    listed = get(ogc, "/jobs", schema="jobList")["jobs"]
    assert job_id in [j["jobID"] for j in listed]


def test_async_execution_is_201_with_a_location_and_its_wps_status_document(ogc, wps_app, product_zip,
                                                                             server_root):
    response = execute(ogc, "Jpeg2Tiff", {"product": {"href": f"file://{product_zip}"}, "bands": "B04",
                                          "resolution": 60},
                       outputs={"image": {}, "metadata": {"transmissionMode": "reference"}},
                       asynchronous=True, status=201)
    assert response.headers["Preference-Applied"] == "respond-async"
    location = response.headers["Location"]
    job_id = location.rsplit("/", 1)[1]
    assert location == f"http://127.0.0.1:5000/ogcapi/jobs/{job_id}"
    accepted = assert_valid(response.get_json(), "statusInfo")
    assert accepted["jobID"] == job_id and accepted["status"] in ("accepted", "running", "successful")
    document = server_root / "outputs" / f"{job_id}.xml"
    assert document.exists(), "a WPS client can follow an OGC API job too"
    job = wait(ogc, job_id)
    assert job["status"] == "successful" and job["progress"] == 100, job
    results = get(ogc, f"/jobs/{job_id}/results", schema="results")
    assert set(results) == {"image", "metadata"}
    assert results["metadata"]["href"].endswith(".json"), "a JSON output asked by reference is a link"
    with raster(ogc, results["image"]["href"]) as image:
        assert image.descriptions == ("B04",)
    status = assert_valid_xml(document.read_bytes())
    assert status.xpath("//wps:ProcessSucceeded", namespaces=NS)
    assert status.xpath("//wps:Output[ows:Identifier='image']/wps:Reference/@href", namespaces=NS) == \
        [results["image"]["href"]]
    assert store_for_config().get(job_id)["protocol"] == "ogcapi"


def test_every_input_form_reaches_the_job(ogc, data_root):
    """A server path, a URL, an {"href"} and an embedded base64 image in one list."""
    folder = data_root / "forms"
    folder.mkdir(exist_ok=True)
    paths = [write_tif(folder / f"image{n}.tif", when=day(n + 1)) for n in range(4)]
    served = {"/third.tif": body(paths[2].read_bytes())}
    with serving(served) as (base, seen):
        response = execute(ogc, "ExtractInfo", {"images": [
            "forms/image0.tif",
            f"{base}/third.tif",
            {"href": f"file://{paths[1]}", "type": "image/tiff"},
            {"value": base64.b64encode(paths[3].read_bytes()).decode(), "mediaType": "image/tiff"},
        ]})
    assert [path for _, path, _ in seen] == ["/third.tif"]
    pairs = assert_valid(response.get_json(), "results")["pairs"]["value"]
    group = pairs["groups"][0]
    assert len(group["images"]) == 4 and len(group["pairs"]) == 3, pairs
    assert not pairs.get("rejected"), pairs


def test_a_failed_job_says_why_naming_the_input(ogc, data_root):
    write_tif(data_root / "not-a-product.zip")
    response = execute(ogc, "Jpeg2Tiff", {"product": "not-a-product.zip"}, asynchronous=True, status=201)
    job_id = response.headers["Location"].rsplit("/", 1)[1]
    job = wait(ogc, job_id)
    assert job["status"] == "failed" and "product" in job["message"], job
    refused(ogc.get(f"/ogcapi/jobs/{job_id}/results"), 400, "The job failed", "Input product")
    synchronous = execute(ogc, "Jpeg2Tiff", {"product": "not-a-product.zip"}, status=400)
    failure = assert_valid(synchronous.get_json(), "exception")
    assert "product" in failure["description"] and "Traceback" not in failure["description"]


# One job store: WPS jobs seen through OGC API


def test_a_wps_job_is_listed_with_its_results(ogc, wps, product_zip):
    xml = execute_xml("Jpeg2Tiff", [("product_ref", str(product_zip)), ("bands", "B03"), ("resolution", "60")],
                      outputs=[("image", True), ("metadata", False)])
    doc = assert_valid_xml(post(wps, xml).data)
    href = doc.xpath("//wps:Output[ows:Identifier='image']/wps:Reference/@href", namespaces=NS)[0]
    job_id = href.split("/outputs/")[1].split("/")[0]
    job = get(ogc, f"/jobs/{job_id}", schema="statusInfo")
    assert job["status"] == "successful" and job["processID"] == "Jpeg2Tiff"
    results = get(ogc, f"/jobs/{job_id}/results", schema="results")
    assert results["image"]["href"] == href
    assert results["metadata"]["value"]["bands"] == ["B03"]
    with raster(ogc, href) as image:
        assert image.descriptions == ("B03",)


def test_any_job_of_the_store_is_listed(ogc):
    """Jobs recorded by other means (a test's, an older version's) are listed all the same."""
    store = store_for_config()
    job_id = store.submit("NoSuch:Process", {})
    store.dismiss(job_id)
    assert get(ogc, f"/jobs/{job_id}", schema="statusInfo")["processID"] == "NoSuch:Process"
    assert job_id in [job["jobID"] for job in get(ogc, "/jobs?limit=100", schema="jobList")["jobs"]]


def test_job_list_pages(ogc):
    store = store_for_config()
    for _ in range(2):  # at least two jobs, whatever ran before
        store.dismiss(store.submit("NoSuch:Process", {}))
    first = get(ogc, "/jobs?limit=1", schema="jobList")
    assert len(first["jobs"]) == 1
    following = [link["href"] for link in first["links"] if link["rel"] == "next"]
    assert following and "offset=1" in following[0]
    second = get(ogc, following[0][len("http://127.0.0.1:5000/ogcapi"):], schema="jobList")
    assert second["jobs"][0]["jobID"] != first["jobs"][0]["jobID"]


def test_the_job_list_is_hidden_unless_the_operator_lists_jobs(ogc, candela_settings):
    packaged = configparser.ConfigParser()
    packaged.read(Path(processes.__file__).with_name("defaults.cfg"))
    assert packaged.get("candela", "listjobs") == "false", "an installed server lists no jobs by default"
    store = store_for_config()
    job_id = store.submit("NoSuch:Process", {})
    store.dismiss(job_id)
    candela_settings(listjobs="false")
    assert get(ogc, "/jobs", status=404)["description"].startswith("This server does not list jobs")
    assert get(ogc, f"/jobs/{job_id}", schema="statusInfo")["status"] == "dismissed"
    assert not [c for c in get(ogc, "/conformance")["conformsTo"] if c.endswith("/job-list")]
    candela_settings(listjobs="true")
    assert job_id in [job["jobID"] for job in get(ogc, "/jobs?limit=100", schema="jobList")["jobs"]]


# A real server, driven with OWSLib


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """The test server (our processes plus Sleeper), one job at a time."""
    root = tmp_path_factory.mktemp("ogcapi")
    (root / "data").mkdir()
    with LiveServer(root, data_roots=[root / "data"], parallelprocesses=1) as server:
        yield server
        for job in server.store.jobs():
            if job["pid"] and job["status"] == RUNNING:
                try:
                    os.killpg(job["pid"], 9)
                except (ProcessLookupError, PermissionError):
                    pass


@pytest.mark.live
def test_owslib_reads_the_api_and_runs_jobs_sync_and_async(live):
    processes = Processes(f"{live.base}/ogcapi/")  # OWSLib joins paths to a URL ending with /
    assert_valid(processes.conformance(), "confClasses")
    assert "/processes/{processId}" not in processes.api()["paths"] and "/jobs" in processes.api()["paths"]
    assert {"Jpeg2Tiff", "Sleeper"} <= {p["id"] for p in processes.processes()}
    sleeper = assert_valid(processes.process("Sleeper"), "process")
    assert sleeper["inputs"]["seconds"]["schema"] == {"type": "number", "default": 1.0}
    results = processes.execute("Sleeper", {"seconds": 0.2})
    assert assert_valid(results, "results")["result"]["value"]["slept"] == 0.2
    accepted = processes.execute("Sleeper", {"seconds": 0.2}, async_=True)
    location = processes.response_headers["Location"]
    assert accepted["jobID"] == location.rsplit("/", 1)[1]
    job = processes._request(path=f"jobs/{accepted['jobID']}")  # OWSLib 0.35 has no job methods
    deadline = time.monotonic() + 60
    while job["status"] not in FINAL and time.monotonic() < deadline:
        time.sleep(0.2)
        job = processes._request(path=f"jobs/{accepted['jobID']}")
    assert job["status"] == "successful", job
    results = processes._request(path=f"jobs/{accepted['jobID']}/results")
    assert assert_valid(results, "results")["result"]["value"]["slept"] == 0.2


@pytest.mark.live
def test_queued_and_running_jobs_are_listed_then_dismissed(live):
    ogcapi = f"{live.base}/ogcapi"
    started = [requests.post(f"{ogcapi}/processes/Sleeper/execution", json={"inputs": {"seconds": 60}},
                             headers={"Prefer": "respond-async"}, timeout=30) for _ in range(2)]
    assert [r.status_code for r in started] == [201, 201]
    running, queued = [r.headers["Location"].rsplit("/", 1)[1] for r in started]
    worker = live.worker_of(running)
    listed = assert_valid(requests.get(f"{ogcapi}/jobs", timeout=30).json(), "jobList")["jobs"]
    states = {job["jobID"]: job for job in listed}
    assert states[running]["status"] == "running" and "started" in states[running]
    assert states[queued]["status"] == "accepted" and "started" not in states[queued]

    for job_id in (queued, running):
        response = requests.delete(f"{ogcapi}/jobs/{job_id}", timeout=30)
        assert response.status_code == 200, response.text
        assert assert_valid(response.json(), "statusInfo")["status"] == "dismissed"
        job = assert_valid(requests.get(f"{ogcapi}/jobs/{job_id}", timeout=30).json(), "statusInfo")
        assert job["status"] == "dismissed" and live.store.get(job_id)["status"] == DISMISSED
        assert requests.get(f"{ogcapi}/jobs/{job_id}/results", timeout=30).status_code == 404
        status = assert_valid_xml((live.outputs / f"{job_id}.xml").read_bytes())
        assert "Dismissed" in " ".join(status.xpath("//wps:ProcessFailed//ows:ExceptionText/text()",
                                                   namespaces=NS)), "WPS clients learn it too"
    deadline = time.monotonic() + 20
    while os.path.exists(f"/proc/{worker}/cmdline") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not os.path.exists(f"/proc/{worker}/cmdline"), "the worker was stopped"

    removed = requests.delete(f"{ogcapi}/jobs/{running}", timeout=30)
    assert removed.status_code == 200, "an ended job is removed"
    assert requests.get(f"{ogcapi}/jobs/{running}", timeout=30).status_code == 404
    assert not (live.outputs / f"{running}.xml").exists()


@pytest.mark.live
def test_rasters_open_from_their_href(live):
    product = write_product(live.root / "data", level="L2A", size_10m=120, zipped=True,
                            sensing_time=datetime(2022, 3, 4, 11, 0, tzinfo=timezone.utc))
    processes = Processes(f"{live.base}/ogcapi/")
    results = processes.execute("Jpeg2Tiff", {"product": product.name, "bands": "B04", "resolution": 60})
    href = results["image"]["href"]
    assert href.startswith(f"{live.base}/outputs/")
    with rasterio.open(href) as image:
        assert image.descriptions == ("B04",) and image.res == (60.0, 60.0)
