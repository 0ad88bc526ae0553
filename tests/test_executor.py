"""The executor's judgements, with stand-in workers: who is alive, what a death means, and
what happens to jobs whose supervisor or host is gone."""

import os
import signal
import subprocess
import sys
import time

import pytest

from candela.jobs import JobStore
from candela.jobs.executor import Executor, exit_reason, worker_alive
from candela.jobs.store import ACCEPTED, FAILED, RUNNING, SUCCESSFUL


@pytest.fixture
def store(tmp_path):
    return JobStore(f"sqlite:///{tmp_path / 'jobs.sqlite'}")


def sleeper(seconds):
    """A stand-in worker: a process that sleeps with the job id in its command line."""
    return lambda job: [sys.executable, "-c", f"import time; time.sleep({seconds})", job["job_id"]]


def executor(store, command=sleeper(30), **options):
    settings = dict(slots=2, walltime=3600, heartbeat_timeout=60, host="here", poll=0.1)
    return Executor(store, command, **{**settings, **options})


def wait_for(condition, timeout=20):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_exit_reasons_are_told_in_words():
    assert "killed" in exit_reason(-signal.SIGKILL) and "memory" in exit_reason(-signal.SIGKILL)
    assert "CPU-time" in exit_reason(-signal.SIGXCPU)
    assert "code 3" in exit_reason(3)


def test_a_recycled_pid_is_not_taken_for_the_worker():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "job-123"])
    try:
        assert worker_alive(child.pid, "job-123")
        assert not worker_alive(child.pid, "job-456"), "another job's id: not its worker"
        assert not worker_alive(os.getpid(), "job-123")
    finally:
        child.kill()
        child.wait()
    assert not worker_alive(child.pid, "job-123")


def test_slots_hold_and_ended_workers_free_them(store):
    run = executor(store, command=sleeper(0.5))
    ids = [store.submit("P", {}) for _ in range(5)]
    run.run_once()
    assert store.counts() == {RUNNING: 2, ACCEPTED: 3}
    wait_for(lambda: all(child.poll() is not None for child, _ in run.children.values()))
    run.run_once()  # the two ended without reporting: failed; two more start
    assert [store.get(i)["status"] for i in ids[:2]] == [FAILED, FAILED]
    assert "without reporting a result" in store.get(ids[0])["message"]
    assert store.counts()[RUNNING] == 2


def test_jobs_of_a_dead_host_are_requeued_then_failed(store):
    job_id = store.submit("P", {})
    store.claim("gone-host", 1, 1)
    with store.engine.begin() as db:
        db.exec_driver_sql(f"UPDATE candela_jobs SET heartbeat = 0 WHERE job_id = '{job_id}'")
    run = executor(store, recovery="requeue", max_attempts=2, slots=0)
    run.run_once()
    assert store.get(job_id)["status"] == ACCEPTED
    store.claim("gone-host", 1, 1)
    with store.engine.begin() as db:
        db.exec_driver_sql(f"UPDATE candela_jobs SET heartbeat = 0 WHERE job_id = '{job_id}'")
    ended = []
    run.on_ended = lambda job, message: ended.append((job["job_id"], message))
    run.run_once()
    job = store.get(job_id)
    assert job["status"] == FAILED and job["attempts"] == 2, "at most max_attempts runs"
    assert ended == [(job_id, job["message"])]


def test_a_live_sibling_executors_jobs_are_left_to_it(store):
    """Another server process on this host supervises its own workers; a worker that died
    under a live supervisor is that supervisor's to report, not requeued by a neighbour."""
    job_id = store.submit("P", {})
    sibling = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        store.claim("here", 2, sibling.pid)
        store.set_pid(job_id, 999999, 1)  # a worker that is gone
        executor(store, slots=0).run_once()
        assert store.get(job_id)["status"] == RUNNING
        sibling.kill()
        sibling.wait()
        executor(store, slots=0, recovery="fail").run_once()
        assert store.get(job_id)["status"] == FAILED, "an orphan once its supervisor is gone"
    finally:
        sibling.kill()


def test_a_worker_that_reports_is_not_failed(store):
    run = executor(store, command=sleeper(0.2))
    job_id = store.submit("P", {})
    run.run_once()
    store.finish(job_id, SUCCESSFUL, "done")
    wait_for(lambda: all(child.poll() is not None for child, _ in run.children.values()))
    run.run_once()
    assert store.get(job_id)["status"] == SUCCESSFUL and not run.children


def test_a_job_claimed_by_a_supervisor_that_died_before_starting_it_is_recovered_at_once(store):
    job_id = store.submit("P", {})
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    store.claim("here", 2, gone.pid)  # claimed, then the server died before starting a worker
    executor(store, slots=0, heartbeat_timeout=3600).run_once()
    assert store.get(job_id)["status"] == ACCEPTED, "re-queued without waiting for the heartbeat timeout"
