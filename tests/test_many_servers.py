"""Many servers, one service: three live servers (two development servers and a gunicorn with
2 workers) share one PostgreSQL job store and one output folder (each its own configuration
and work folder, as on separate machines). A job submitted to any is run exactly once, by
whichever executor claims it; its status reads the same from all (the WPS status document
under /outputs/, OGC API /jobs/{id}); a worker killed mid-job leaves its job failed wherever it is read, and the queue moves on; a server stopped while it
holds jobs loses none of them, and serves their status again once restarted."""

import os
import re
import signal
import time
import uuid
from contextlib import contextmanager

import pytest
import requests
import sqlalchemy as sa

from candela.jobs import JobStore
from candela.jobs.store import ACCEPTED, DISMISSED, FAILED, RUNNING, SUCCESSFUL
from candela.jobs.executor import process_alive
from helpers.jsonschemas import assert_valid as assert_valid_json
from helpers.live import LiveServer, gunicorn, submit
from helpers.paths import ROOT
from helpers.schemas import assert_valid
from helpers.wps import NS

pytestmark = pytest.mark.live

POSTGRES = os.environ.get("CANDELA_TEST_POSTGRES")
SLEEPER = "Sleeper"
#: Jobs running at once on this host, across all servers.
SLOTS = 3


@pytest.fixture(scope="module")
def database():
    """A job database of its own (see :func:`fresh_schema`)."""
    with fresh_schema() as url:
        yield url


@contextmanager
def fresh_schema():
    """A fresh schema of the test PostgreSQL as a job database URL, dropped afterwards, so
    reruns (and other tests on the same database) do not see each other's jobs."""
    if not POSTGRES:
        pytest.skip("needs PostgreSQL: set CANDELA_TEST_POSTGRES to a SQLAlchemy URL (.ci/run starts one)")
    schema = f"candela_ms_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as db:
        db.exec_driver_sql(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in POSTGRES else "?"
    try:
        yield f"{POSTGRES}{separator}options=-csearch_path={schema}"
    finally:
        with admin.connect() as db:
            db.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def on_database(server, url):
    """``server`` with its job database at ``url`` (LiveServer writes a SQLite one)."""
    text = server.config.read_text()
    server.config.write_text(re.sub(r"(?m)^database = .*$", f"database = {url}", text))
    server.store = JobStore(url)
    return server


def gunicorn_with_test_processes(port):
    """The shipped gunicorn (2 workers, each with its executor), its workers able to import
    the test processes of jobs the other servers accepted."""
    return ["env", f"PYTHONPATH={ROOT / 'tests'}", *gunicorn(port)]


@pytest.fixture(scope="module")
def everyone(tmp_path_factory, database):
    """Two development servers (A, B) and a gunicorn with 2 workers (C), each with its own
    configuration and work folder, on one job database, one output folder and one folder of
    uploads (``[candela] uploads``, as several hosts need)."""
    outputs = tmp_path_factory.mktemp("shared-outputs")
    uploads = tmp_path_factory.mktemp("shared-uploads")
    live = []
    for name, command in (("a", None), ("b", None), ("c", gunicorn_with_test_processes)):
        root = tmp_path_factory.mktemp(f"server-{name}")
        options = dict(outputpath=outputs, parallelprocesses=SLOTS, maxprocesses=50, candela={"uploads": uploads})
        server = LiveServer(root, command=command, **options) if command else LiveServer(root, **options)
        live.append(on_database(server, database))
    with running(live):
        yield live


@contextmanager
def running(live):
    """The servers ``live`` started; stopped afterwards, with the workers they left."""
    store = live[0].store
    try:
        for server in live:
            server.start()
        yield live
    finally:
        for server in live:
            server.stop()
        for job in store.jobs():  # workers outlive their servers: end those of this test
            if job["pid"] and job["status"] not in (SUCCESSFUL, FAILED, DISMISSED):
                try:
                    os.killpg(job["pid"], signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        store.engine.dispose()


@pytest.fixture(scope="module")
def two_hosts(tmp_path_factory):
    """Two development servers as two machines (``[candela] host`` east and west) on a job
    database of their own, workers beating every second and taken for dead after 5 s silent."""
    with fresh_schema() as url:
        outputs = tmp_path_factory.mktemp("hosts-outputs")
        uploads = tmp_path_factory.mktemp("hosts-uploads")
        live = [on_database(LiveServer(tmp_path_factory.mktemp(f"host-{name}"), outputpath=outputs,
                                       parallelprocesses=1, maxprocesses=10,
                                       candela={"host": name, "uploads": uploads, "heartbeat": "1s",
                                                "heartbeattimeout": "5s"}), url)
                for name in ("east", "west")]
        with running(live):
            yield dict(zip(("east", "west"), live))


@pytest.fixture(scope="module")
def servers(everyone):
    """A and B, the servers that offer the test processes (C runs and reports their jobs)."""
    return everyone[:2]


def supervisors(server):
    """The pids of the server's executors: its own process, or a gunicorn's workers."""
    pids = {server.process.pid}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == server.process.pid:
                        pids.add(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return pids


def submit_wps(server, seconds):
    job_id, doc = submit(server, SLEEPER, [("seconds", str(seconds))])
    assert job_id, doc
    return job_id


def submit_ogc(server, seconds):
    response = requests.post(f"{server.base}/ogcapi/processes/{SLEEPER}/execution",
                             json={"inputs": {"seconds": seconds}}, headers={"Prefer": "respond-async"}, timeout=30)
    assert response.status_code == 201, response.text
    return response.headers["Location"].rsplit("/", 1)[1]


def ogc_job(server, job_id):
    response = requests.get(f"{server.base}/ogcapi/jobs/{job_id}", timeout=10)
    assert response.status_code == 200, response.text
    assert_valid_json(response.json(), "statusInfo")
    return response.json()


def wps_document(server, job_id):
    """The job's WPS status document as served by ``server`` (bytes, validated)."""
    response = requests.get(f"{server.base}/outputs/{job_id}.xml", timeout=10)
    assert response.status_code == 200, (server.base, job_id, response.status_code)
    assert_valid(response.content)
    return response.content


def wps_status(document):
    """The wps:Status child's name: ProcessSucceeded, ProcessFailed, ..."""
    doc = assert_valid(document)
    return [re.sub(r"^\{.*\}", "", e.tag) for e in doc.xpath("//wps:Status/*", namespaces=NS)][0]


def same_everywhere(servers, job_id):
    """The job's status as every server serves it, checked to agree; (OGC API status, WPS
    status). A job that ended reads identically (same document, same OGC API fields); a
    running one, whose progress moves between two reads, in the same status."""
    documents = [wps_document(server, job_id) for server in servers]
    infos = [ogc_job(server, job_id) for server in servers]
    statuses = {(info["status"], wps_status(document)) for info, document in zip(infos, documents)}
    assert len(statuses) == 1, f"the servers tell {job_id} apart: {statuses}"
    status = statuses.pop()
    if status[0] in ("successful", "failed", "dismissed"):
        assert len(set(documents)) == 1, f"the servers serve different status documents of {job_id}"
        keys = ("jobID", "status", "message", "progress", "created", "started", "finished")
        views = [{k: info.get(k) for k in keys} for info in infos]
        assert all(view == views[0] for view in views), views
    return status


def reads_everywhere(servers, job_id, status):
    """Whether every server reads the job as ``status`` (a job ending is written to the store
    and then to its status document: for a moment the two disagree)."""
    try:
        return same_everywhere(servers, job_id) == status
    except AssertionError:
        return False


def worker_starts(servers, job_id):
    """How many times any server's executor started a worker for the job (their logs)."""
    return sum(server.log().count(f"Job {job_id} (") for server in servers)


def wait_until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.1)
    return result


def test_jobs_sent_to_either_server_each_run_once_and_read_alike(everyone):
    a, b, c = servers = everyone
    submitters = [(a, submit_wps), (b, submit_wps), (a, submit_ogc), (b, submit_ogc)]
    ids = [submitters[n % 4][1](submitters[n % 4][0], 0.5) for n in range(12)]
    assert len(set(ids)) == 12
    jobs = [a.wait(job_id, timeout=90) for job_id in ids]
    assert [job["status"] for job in jobs] == [SUCCESSFUL] * 12, [(j["status"], j["message"]) for j in jobs]
    assert [job["attempts"] for job in jobs] == [1] * 12, "each job claimed once"
    assert [worker_starts(servers, job_id) for job_id in ids] == [1] * 12, "each job started in one worker"
    assert len({job["pid"] for job in jobs}) == 12, "each in a worker of its own"
    for job in jobs:
        assert job["result"] is not None
    for job_id in ids:
        assert same_everywhere(servers, job_id) == ("successful", "ProcessSucceeded")
    # The executors of all three servers take work from the one queue, and only they.
    executors = {job["supervisor"] for job in jobs}
    assert executors <= supervisors(a) | supervisors(b) | supervisors(c), executors


def test_a_worker_killed_mid_job_fails_its_job_everywhere_and_the_queue_moves_on(everyone):
    a, b, c = servers = everyone
    long = [submit_wps(a, 60), submit_ogc(b, 60), submit_wps(b, 60)]
    pids = [a.worker_of(job_id) for job_id in long]  # all slots of the host taken
    queued = submit_wps(b, 0.5)
    time.sleep(1.5)
    assert a.store.state(queued)["status"] == ACCEPTED, "the slots of the host hold across all servers"
    wait_until(lambda: reads_everywhere(servers, long[0], ("running", "ProcessStarted")), 30,
               "the first job reported running by every server")  # its worker runs the process

    os.kill(pids[0], signal.SIGKILL)

    wait_until(lambda: reads_everywhere(servers, long[0], ("failed", "ProcessFailed")), 15,
               "the killed job reported failed by every server")
    assert same_everywhere(servers, long[0]) == ("failed", "ProcessFailed"), "and stays so"
    job = a.store.get(long[0])
    assert job["status"] == FAILED and "killed" in job["message"], job["message"]
    assert ogc_job(b, long[0])["message"] == job["message"]

    assert a.wait(queued, timeout=30)["status"] == SUCCESSFUL, "the job queued behind it ran"
    assert same_everywhere(servers, queued) == ("successful", "ProcessSucceeded")
    assert [a.store.state(job_id)["status"] for job_id in long[1:]] == [RUNNING, RUNNING]

    # The others are dismissed through the server that did not start them.
    for job_id, pid in zip(long[1:], pids[1:]):
        other = b if a.store.state(job_id)["supervisor"] == a.process.pid else a
        assert requests.delete(f"{other.base}/ogcapi/jobs/{job_id}", timeout=30).ok
        wait_until(lambda: not process_alive(pid), 15, f"the worker of dismissed job {job_id} stopped")
        assert same_everywhere(servers, job_id)[0] == DISMISSED


def test_a_server_stopped_with_jobs_loses_none_and_serves_them_once_restarted(everyone):
    a, b, c = servers = everyone
    others = supervisors(b) | supervisors(c)
    running = [submit_wps(a, 4), submit_ogc(a, 4), submit_wps(a, 4)]
    for job_id in running:
        a.worker_of(job_id)
    queued = [submit_wps(a, 0.5), submit_ogc(a, 0.5)]
    assert {a.store.state(job_id)["status"] for job_id in queued} == {ACCEPTED}
    stopped = a.process.pid
    a.stop()
    assert a.process.poll() is not None

    # The other servers serve the stopped one's jobs, run its queued ones, and let the
    # workers it left behind finish.
    for job_id in running + queued:
        assert b.wait(job_id, timeout=60)["status"] == SUCCESSFUL, b.store.get(job_id)["message"]
        assert same_everywhere([b, c], job_id) == ("successful", "ProcessSucceeded")
    assert [b.store.state(job_id)["attempts"] for job_id in running + queued] == [1] * 5, "none run twice"
    assert {b.store.state(job_id)["supervisor"] for job_id in queued} <= others

    # Restarted with the same configuration, it serves the status of its earlier jobs.
    a.start()
    assert a.process.pid != stopped
    for job_id in running + queued:
        assert same_everywhere(servers, job_id) == ("successful", "ProcessSucceeded")
    listed = requests.get(f"{a.base}/ogcapi/jobs", params={"limit": 100}, timeout=10).json()
    assert set(running + queued) <= {job["jobID"] for job in listed["jobs"]}


def test_a_job_with_an_uploaded_input_runs_on_a_server_that_did_not_accept_it(everyone):
    """Uploads wait in the shared ``[candela] uploads`` folder, not in the accepting server's
    work folder, which another host cannot read."""
    a, b, c = everyone
    blockers = [submit_wps(b, 60) for _ in range(SLOTS)]
    for job_id in blockers:
        b.worker_of(job_id)  # every slot of the host taken: what A accepts now waits
    upload = ("b64", b"II*\0" + bytes(100), "image/tiff")
    job_id, doc = submit(a, SLEEPER, [("seconds", "0.2"), ("image", upload)])
    assert job_id, doc
    assert a.store.state(job_id)["status"] == ACCEPTED
    a.stop()  # only B and C are left to run it
    try:
        for blocker in blockers:
            assert requests.delete(f"{b.base}/ogcapi/jobs/{blocker}", timeout=30).ok
        job = b.wait(job_id, timeout=60)
        assert job["supervisor"] in supervisors(b) | supervisors(c)
        assert job["status"] == SUCCESSFUL, job["message"]
        assert job["result"]["outputs"]
    finally:
        a.start()


def test_a_worker_killed_after_its_server_stopped_leaves_no_job_running(everyone):
    """The worker's own server is gone, so no one reaps it: a server on the same host notices
    the job's supervisor and worker are both dead, and re-queues it (``recovery = requeue``,
    first run of two); the job ends, read alike through the servers still up."""
    a, b, c = everyone
    job_id = submit_wps(a, 3)
    pid = a.worker_of(job_id)
    supervisor = a.store.state(job_id)["supervisor"]
    a.stop()
    try:
        os.kill(pid, signal.SIGKILL)
        job = b.wait(job_id, timeout=60)
        assert same_everywhere([b, c], job_id)[0] == job["status"]
        if supervisor in supervisors(b) | supervisors(c):  # a living server reaped it: failed at once
            assert job["status"] == FAILED and "killed" in job["message"], job
        else:  # orphaned: re-queued, run again by another server
            assert job["status"] == SUCCESSFUL and job["attempts"] == 2, job
            assert job["supervisor"] in supervisors(b) | supervisors(c)
    finally:
        a.start()


def test_a_machine_that_died_has_its_job_run_again_by_another(two_hosts):
    """A whole machine goes at once (its server and the job's worker SIGKILLed): the other
    machine finds the job's heartbeat silent, re-queues it and runs it to its end; the job
    reads alike through both once the dead machine's server is back."""
    job_id = submit_wps(two_hosts["east"], 4)
    pid = two_hosts["east"].worker_of(job_id)
    host = two_hosts["east"].store.state(job_id)["host"]
    assert host in two_hosts, f"the job runs under {host!r}, not a configured [candela] host"
    dead, (alive_name, alive) = two_hosts[host], next((n, s) for n, s in two_hosts.items() if n != host)
    dead.kill()
    os.killpg(pid, signal.SIGKILL)
    job = alive.wait(job_id, timeout=90)
    assert job["status"] == SUCCESSFUL and job["attempts"] == 2 and job["host"] == alive_name, job
    assert f"Job {job_id}: its worker is gone; re-queued" in alive.log()
    assert same_everywhere([alive], job_id) == ("successful", "ProcessSucceeded")
    dead.start()
    assert same_everywhere(list(two_hosts.values()), job_id) == ("successful", "ProcessSucceeded")
