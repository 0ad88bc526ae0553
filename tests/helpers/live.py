"""Real server processes on 127.0.0.1 for tests: started, killed and restarted like a user's;
Execute requests sent to them, and the rasters they serve read back."""

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import requests
from rasterio.io import MemoryFile

from candela.jobs import FINAL, JobStore
from candela.jobs.store import RUNNING
from helpers.config import write_config
from helpers.paths import ROOT
from helpers.schemas import assert_valid
from helpers.wps import execute_xml

SERVE = ROOT / "tests" / "helpers" / "serve.py"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(script=SERVE, *args):
    """The command of a development server running ``script`` (``wsgi.py``, or
    :mod:`helpers.serve` which adds the test processes) with ``args``."""
    return lambda port: [sys.executable, str(script), *args]


def gunicorn(port):
    """Gunicorn with the shipped configuration."""
    return [str(Path(sys.executable).with_name("gunicorn")), "-c", "gunicorn.conf.py",
            "--bind", f"127.0.0.1:{port}", "wsgi:application"]


class LiveServer:
    """A server process started by ``command(port)`` (default: :func:`serve`), configured
    under ``root``. ``candela`` and ``server`` are config options."""

    def __init__(self, root, command=serve(), data_roots=(), candela=None, **server):
        self.root = root
        self.port = free_port()
        self.command = command(self.port)
        self.base = f"http://127.0.0.1:{self.port}"
        # Tests serve references from 127.0.0.1: allow it, as an operator would an internal archive.
        candela = {"allowedhosts": "127.0.0.0/8", **(candela or {})}
        self.config = write_config(root / "live.cfg", root, url=self.base, data_roots=data_roots,
                                   candela=candela, **server)
        self.store = JobStore(f"sqlite:///{root / 'jobs.sqlite'}")
        self.outputs = Path(server.get("outputpath", root / "outputs"))
        self.process = None

    @property
    def wps(self):
        return f"{self.base}/wps"

    def start(self, timeout=60):
        log = open(self.root / "server.log", "ab")
        self.process = subprocess.Popen(self.command, cwd=ROOT,
                                        env={**os.environ, "PYWPS_CFG": str(self.config)},
                                        stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            try:  # not a WPS request: nothing but the server's start may start its executor
                requests.get(f"{self.base}/", timeout=2)
                return self
            except (requests.ConnectionError, requests.Timeout):  # not up yet, or slow on a busy machine
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{self.log()[-3000:]}")
            time.sleep(0.2)

    def log(self):
        return (self.root / "server.log").read_text(errors="replace")

    def kill(self):
        """SIGKILL the server process alone (its workers run on)."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def post(self, xml, timeout=120):
        return requests.post(self.wps, data=xml.encode() if isinstance(xml, str) else xml, timeout=timeout,
                             headers={"Content-Type": "text/xml"})

    def wait(self, job_id, timeout=120, until=FINAL):
        """The job once its status is in ``until``, read from the job store (not polled
        through the server)."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.store.get(job_id)
            if job and job["status"] in until:
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} still {job and job['status']} after {timeout} s:\n"
                                     f"{self.log()[-3000:]}")
            time.sleep(0.1)

    def worker_of(self, job_id, timeout=60):
        """The pid of the job's worker once it has one. A job is running from its claim on, a
        moment before its worker is started and recorded: a server killed in that moment leaves
        no worker behind, and the job is rightly re-queued."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.wait(job_id, timeout=timeout, until=(RUNNING,))
            if job["pid"]:
                return job["pid"]
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} has no worker after {timeout} s:\n{self.log()[-3000:]}")
            time.sleep(0.05)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def submit(server, identifier, inputs, output="result", status=True):
    """An Execute (async unless ``status`` is False); the job id from its status location."""
    response = server.post(execute_xml(identifier, inputs, outputs=[(output, False)], status=status))
    doc = assert_valid(response.content)
    location = doc.get("statusLocation")
    return (location.rsplit("/", 1)[1][:-4] if location else None), doc


def status_doc(server, job_id):
    """A job's status document, read from the server's disk and validated."""
    return assert_valid((server.outputs / f"{job_id}.xml").read_bytes())


@contextmanager
def open_remote_raster(url):
    """The raster at ``url``, read in memory. The MemoryFile must outlive the dataset: freed
    early by the garbage collector, it leaves the dataset reading released memory."""
    response = requests.get(url, timeout=30)
    response.raise_for_status()
    with MemoryFile(response.content) as memory, memory.open() as dataset:
        yield dataset
