"""The shipped gunicorn configuration, as an operator runs it: slow clients cannot starve it,
jobs started by any of its workers finish (also when that worker is killed), and its own
errors reach WPS clients as OWS exceptions."""

import os
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest
import requests

from candela.jobs.store import SUCCESSFUL
from candela.datasets.synthetic_s2 import write_product
from helpers.live import LiveServer, gunicorn, status_doc, submit
from helpers.schemas import assert_valid
from helpers.wps import NS

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("gunicorn")
    (root / "data").mkdir()
    write_product(root / "data", level="L2A", size_10m=120, zipped=True,
                  sensing_time=datetime(2022, 3, 4, 11, 0, tzinfo=timezone.utc))
    with LiveServer(root, command=gunicorn, data_roots=[root / "data"]) as live:
        yield live
        workers = {job["pid"] for job in live.store.jobs() if job["pid"]}
    for pid in workers:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def product(server):
    return next((server.root / "data").glob("*.zip")).name


def test_slow_clients_do_not_starve_the_server(server):
    slow = []
    try:
        for _ in range(40):  # more than workers x threads of a thread-based worker
            client = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            client.sendall(b"GET /wps?service=WPS&request=GetCapabilities HTTP/1.1\r\nHost: x\r\n")
            slow.append(client)  # the header never ends
        started = time.monotonic()
        response = requests.get(f"{server.wps}?service=WPS&request=GetCapabilities", timeout=10)
        assert response.ok and time.monotonic() - started < 5
        assert_valid(response.content)
    finally:
        for client in slow:
            client.close()


def test_an_over_long_request_line_gets_an_ows_exception(server):
    response = requests.get(f"{server.wps}?service=WPS&request=GetCapabilities&x={'a' * 9000}", timeout=10)
    assert response.status_code == 414
    assert assert_valid(response.content).xpath("//ows:Exception", namespaces=NS)


def test_sync_and_async_jobs_finish_under_gunicorn(server):
    name = product(server)

    def sync(_):
        return submit(server, "ExtractInfo", [("images_ref", name)], output="pairs", status=False)[1]

    job_id, _ = submit(server, "Jpeg2Tiff", [("product_ref", name), ("resolution", "60")], output="image")
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(sync, range(6)))
    assert all(doc.xpath("//wps:ProcessSucceeded", namespaces=NS) for doc in answers)
    assert server.wait(job_id)["status"] == SUCCESSFUL
    assert status_doc(server, job_id).xpath("//wps:ProcessSucceeded", namespaces=NS)


def test_a_job_outlives_the_gunicorn_worker_that_accepted_it(server):
    job_id, _ = submit(server, "Jpeg2Tiff", [("product_ref", product(server)), ("resolution", "10"),
                                             ("bands", "B02,B03,B04,B08")], output="image")
    deadline = time.monotonic() + 60
    while not (job := server.store.get(job_id))["pid"]:  # its worker has started
        assert time.monotonic() < deadline and job["status"] in ("accepted", "running"), job
        time.sleep(0.05)
    os.kill(job["supervisor"], signal.SIGKILL)  # the gunicorn worker whose executor started it
    assert server.wait(job_id)["status"] == SUCCESSFUL
    assert requests.get(f"{server.wps}?service=WPS&request=GetCapabilities", timeout=10).ok
