"""Every accepted job ends, on a real server: queued GDAL and TensorFlow jobs, concurrent clients,
uploads waiting in the queue, SIGKILLs of workers and servers, hung and runaway workers, a full
disk, dismissal. Job states are read from the job store and status documents from disk, never
by polling the server, so nothing here relies on a client to trigger reaping."""

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from candela.jobs import FINAL
from candela.jobs.store import ACCEPTED, DISMISSED, FAILED, RUNNING, SUCCESSFUL
from candela.datasets.synthetic_s2 import write_product
from helpers.live import LiveServer, status_doc, submit
from helpers.paths import ROOT
from helpers.rasters import landscape, second_date, write_optical
from helpers.wps import NS

pytestmark = pytest.mark.live


@pytest.fixture
def servers(tmp_path):
    """Start servers with options; at the end stop them and every worker they left."""
    started = []

    def start(name="server", **options):
        root = tmp_path / name
        (root / "data").mkdir(parents=True, exist_ok=True)
        server = LiveServer(root, data_roots=[root / "data"], **options)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()
        for job in server.store.jobs():
            if job["pid"]:
                try:
                    os.killpg(job["pid"], signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass


def failure_text(doc):
    return " ".join(doc.xpath("//wps:ProcessFailed//ows:ExceptionText/text()", namespaces=NS))


def product_in(server, day=1):
    return write_product(server.root / "data", level="L2A", size_10m=120, zipped=True,
                         sensing_time=datetime(2022, 3, day, 11, 0, tzinfo=timezone.utc)).name


def max_overlap(jobs):
    """Most jobs whose [started, finished] intervals overlap at one moment."""
    events = sorted([(j["started"], 1) for j in jobs] + [(j["finished"], -1) for j in jobs])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


# Queued jobs that used to deadlock

def test_six_queued_gdal_jobs_all_finish(servers):
    server = servers()
    product = product_in(server)
    ids = [submit(server, "Jpeg2Tiff", [("product_ref", product), ("bands", "B02,B03"), ("resolution", "60")],
                  output="image")[0] for _ in range(6)]
    jobs = [server.wait(job_id, timeout=180) for job_id in ids]
    assert [j["status"] for j in jobs] == [SUCCESSFUL] * 6, [j["message"] for j in jobs]
    assert max_overlap(jobs) <= 2, "parallelprocesses = 2 holds"
    assert len({j["pid"] for j in jobs}) == 6, "each job ran in a fresh worker"
    for job_id in ids:
        assert status_doc(server, job_id).xpath("//wps:ProcessSucceeded", namespaces=NS)


def write_pair(folder):
    """A small 4-band pair for TrainAutoencoder."""
    before = landscape((96, 112))
    write_optical(folder / "before.tif", before)
    write_optical(folder / "after.tif", second_date(before))


def test_three_queued_tensorflow_jobs_all_finish(servers):
    server = servers()
    write_pair(server.root / "data")
    ids = [submit(server, "TrainAutoencoder", [("before_ref", "before.tif"), ("after_ref", "after.tif"),
                                               ("model_id", f"m{n}"), ("epochs", "1"), ("seed", str(n))],
                  output="model")[0] for n in range(3)]
    jobs = [server.wait(job_id, timeout=400) for job_id in ids]
    assert [j["status"] for j in jobs] == [SUCCESSFUL] * 3, [j["message"] for j in jobs]


# Load

def test_concurrent_mixed_clients_all_finish_within_the_slots(servers):
    server = servers(parallelprocesses=2, maxprocesses=60)
    product = product_in(server)

    def client(number):
        kind = number % 4
        if kind == 0:
            return submit(server, "Sleeper", [("seconds", "0.3")])
        if kind == 1:
            return submit(server, "Sleeper", [("seconds", "0.2")], status=False)
        if kind == 2:
            return submit(server, "Jpeg2Tiff", [("product_ref", product), ("resolution", "60")], output="image")
        return submit(server, "ExtractInfo", [("images_ref", product)], output="pairs", status=False)

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(client, range(40)))
    busy = [doc for _, doc in answers if doc.xpath("//ows:Exception[@exceptionCode='ServerBusy']", namespaces=NS)]
    assert not busy, "nothing is refused while the queue has room"
    synchronous = [doc for job_id, doc in answers if job_id is None]
    assert len(synchronous) == 20
    assert all(doc.xpath("//wps:ProcessSucceeded", namespaces=NS) for doc in synchronous)
    jobs = [server.wait(job_id, timeout=300) for job_id, _ in answers if job_id]
    assert [j["status"] for j in jobs] == [SUCCESSFUL] * 20
    everything = server.store.jobs()
    assert len(everything) == 40 and all(j["status"] == SUCCESSFUL for j in everything)
    assert max_overlap(everything) <= 2, "parallelprocesses holds under load"


def test_server_busy_only_beyond_the_queue(servers):
    server = servers(parallelprocesses=1, maxprocesses=3)
    first, _ = submit(server, "Sleeper", [("seconds", "3")])
    server.wait(first, until=(RUNNING,))
    queued = [submit(server, "Sleeper", [("seconds", "0.1")])[0] for _ in range(3)]
    refused_id, refused = submit(server, "Sleeper", [("seconds", "0.1")])
    assert refused_id is None
    assert refused.xpath("//ows:Exception/@exceptionCode", namespaces=NS) == ["ServerBusy"]
    assert [server.wait(j)["status"] for j in [first, *queued]] == [SUCCESSFUL] * 4


def geotiff_bytes(tmp_path):
    path = tmp_path / "upload.tif"
    with rasterio.open(path, "w", driver="GTiff", width=32, height=32, count=1, dtype="uint16",
                       crs="EPSG:4326", transform=from_origin(0, 1, 0.01, 0.01)) as out:
        out.write(np.ones((1, 32, 32), "uint16"))
    return path.read_bytes()


def test_uploaded_inputs_wait_in_the_queue(servers, tmp_path):
    server = servers(parallelprocesses=1)
    blocker, _ = submit(server, "Sleeper", [("seconds", "2")])
    data = geotiff_bytes(tmp_path)
    queued, doc = submit(server, "Sleeper", [("seconds", "0.1"), ("image", ("b64", data, "image/tiff"))])
    assert queued, doc
    assert server.store.get(queued)["status"] == ACCEPTED
    job = server.wait(queued)
    assert job["status"] == SUCCESSFUL, job["message"]
    outputs = status_doc(server, queued).xpath("//wps:ComplexData/text()", namespaces=NS)
    assert f'"sizes": [\n    {len(data)}\n  ]' in outputs[0]
    assert server.wait(blocker)["status"] == SUCCESSFUL


# Dying and hanging workers

def test_a_killed_worker_fails_its_job_at_once_and_the_queue_moves_on(servers):
    server = servers(parallelprocesses=1)
    dying, _ = submit(server, "Misbehaver", [("how", "kill")])
    queued, _ = submit(server, "Sleeper", [("seconds", "0.1")])
    job = server.wait(dying, timeout=30)
    assert job["status"] == FAILED and "killed" in job["message"], job
    assert "killed" in failure_text(status_doc(server, dying))
    assert server.wait(queued, timeout=30)["status"] == SUCCESSFUL


@pytest.mark.parametrize("how, options, words", [
    ("hang", {"walltime": "3s"}, "longer than the 3 s allowed"),
    ("freeze", {"heartbeat": "0.3s", "heartbeattimeout": "3s"}, "stopped responding"),
    ("spin", {"cputime": "2s"}, "CPU-time limit"),
])
def test_runaway_workers_are_stopped_and_their_jobs_failed(servers, how, options, words):
    server = servers(candela=options)
    job_id, _ = submit(server, "Misbehaver", [("how", how)])
    job = server.wait(job_id, timeout=60)
    assert job["status"] == FAILED and words in job["message"], job
    assert words in failure_text(status_doc(server, job_id))
    time.sleep(1)
    assert not os.path.exists(f"/proc/{job['pid']}") or open(f"/proc/{job['pid']}/stat").read().split()[2] == "Z"


def test_a_dismissed_job_is_stopped(servers):
    server = servers()
    job_id, _ = submit(server, "Sleeper", [("seconds", "60")])
    worker = server.worker_of(job_id)
    result = subprocess.run([sys.executable, "wsgi.py", "dismiss", job_id], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, env={**os.environ, "PYWPS_CFG": str(server.config)})
    assert result.returncode == 0 and "dismissed" in result.stdout, result.stderr
    assert server.store.get(job_id)["status"] == DISMISSED
    assert "Dismissed" in failure_text(status_doc(server, job_id))
    deadline = time.monotonic() + 20
    while os.path.exists(f"/proc/{worker}/cmdline") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not os.path.exists(f"/proc/{worker}/cmdline"), "the worker was stopped"
    assert "Dismissed" in failure_text(status_doc(server, job_id)), "its progress did not overwrite that"


# Dying servers

def test_killing_the_server_alone_loses_nothing_and_it_restarts_on_its_port(servers):
    server = servers(parallelprocesses=2)
    ids = [submit(server, "Sleeper", [("seconds", "3")])[0] for _ in range(2)]
    for job_id in ids:
        server.worker_of(job_id)
    server.kill()
    server.start()  # the workers must not hold the listening socket
    for job_id in ids:
        job = server.wait(job_id)
        assert job["status"] == SUCCESSFUL and job["attempts"] == 1, job
        assert status_doc(server, job_id).xpath("//wps:ProcessSucceeded", namespaces=NS)


@pytest.mark.parametrize("recovery", ["requeue", "fail"])
def test_killing_server_and_workers_then_restarting_ends_every_job(servers, recovery):
    server = servers(parallelprocesses=2, candela={"recovery": recovery})
    ids = [submit(server, "Sleeper", [("seconds", "4")])[0] for _ in range(3)]
    workers = [server.worker_of(job_id) for job_id in ids[:2]]
    server.kill()
    for pid in workers:
        os.killpg(pid, signal.SIGKILL)
    assert server.store.get(ids[2])["status"] == ACCEPTED
    server.start()
    jobs = [server.wait(job_id, timeout=60) for job_id in ids]
    if recovery == "requeue":
        assert [j["status"] for j in jobs] == [SUCCESSFUL] * 3
        assert [j["attempts"] for j in jobs] == [2, 2, 1]
    else:
        assert [j["status"] for j in jobs] == [FAILED, FAILED, SUCCESSFUL]
        assert "server was stopped" in failure_text(status_doc(server, ids[0]))
    assert all(j["status"] in FINAL for j in server.store.jobs())


# A full disk

@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs, or a skip where this user cannot mount one."""
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("needs to mount a small tmpfs (root, as in CI) to fill a disk")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(folder):
    """Fill the file system of ``folder`` to the last byte."""
    with open(folder / "filler", "wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 4096)
        except OSError:
            pass
    assert os.statvfs(folder).f_bavail == 0


def test_a_full_output_disk_ends_the_job_failed_with_a_final_status_document(servers, small_disk):
    server = servers(outputpath=str(small_disk), parallelprocesses=1)
    blocker, _ = submit(server, "Sleeper", [("seconds", "2")])
    product = product_in(server)
    job_id, _ = submit(server, "Jpeg2Tiff", [("product_ref", product), ("resolution", "10")], output="image")
    fill(small_disk)  # the accepted status documents exist; now nothing more fits
    job = server.wait(job_id, timeout=120)
    assert job["status"] == FAILED, job
    doc = status_doc(server, job_id)
    assert "disk may be full" in failure_text(doc)
    assert not list(small_disk.glob("*.partial*")), "no half-written files are left"
    assert server.wait(blocker)["status"] in FINAL
