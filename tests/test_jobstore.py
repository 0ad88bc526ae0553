"""The job store on SQLite and on a real PostgreSQL: atomic claims, slots that hold across
processes, conditional state changes, a bounded queue, and no "database is locked"."""

import multiprocessing
import os
import time
import uuid

import pytest

from candela.jobs import JobStore, QueueFull
from candela.jobs.store import ACCEPTED, DISMISSED, FAILED, RUNNING, SUCCESSFUL

POSTGRES = os.environ.get("CANDELA_TEST_POSTGRES")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.sqlite'}"
    if not POSTGRES:
        pytest.skip("needs PostgreSQL: set CANDELA_TEST_POSTGRES to a SQLAlchemy URL (.ci/run starts one)")
    store = JobStore(POSTGRES)
    with store.engine.begin() as db:
        db.exec_driver_sql("DELETE FROM candela_jobs")
        db.exec_driver_sql("DELETE FROM candela_hosts")
    store.engine.dispose()
    return POSTGRES


def submit_many(store, count):
    return [store.submit("P", {"n": n}) for n in range(count)]


def _claim_all(url, host, slots, queue):
    store = JobStore(url)
    claimed = []
    while (job := store.claim(host, slots, os.getpid())) is not None:
        claimed.append(job["job_id"])
    queue.put(claimed)


def race(url, hosts, slots):
    """Claimers in separate processes, all at once; what each claimed."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    claimers = [context.Process(target=_claim_all, args=(url, host, slots, queue)) for host in hosts]
    for claimer in claimers:
        claimer.start()
    results = [queue.get(timeout=120) for _ in claimers]
    for claimer in claimers:
        claimer.join(30)
        assert claimer.exitcode == 0
    return results


def test_job_ids_are_random_uuid4(url):
    store = JobStore(url)
    ids = submit_many(store, 3)
    assert len(set(ids)) == 3
    assert all(uuid.UUID(i).version == 4 for i in ids)


def test_each_job_is_claimed_by_exactly_one_of_racing_processes(url):
    store = JobStore(url)
    submitted = submit_many(store, 40)
    results = race(url, [f"host{n}" for n in range(6)], slots=1000)
    claimed = [job for result in results for job in result]
    assert sorted(claimed) == sorted(submitted), "every job claimed once, none twice"


def test_slots_hold_exactly_across_processes_of_one_host(url):
    store = JobStore(url)
    submit_many(store, 20)
    results = race(url, ["same-host"] * 6, slots=3)
    assert sum(len(r) for r in results) == 3
    assert len(store.running_on("same-host")) == 3
    assert store.counts() == {RUNNING: 3, ACCEPTED: 17}


def _hammer(url, rounds, errors):
    store = JobStore(url)
    try:
        for n in range(rounds):
            job_id = store.submit("P", {"n": n})
            job = store.claim(f"h{os.getpid()}", 10**6, os.getpid())
            store.progress(job["job_id"], 50, "half", job["attempts"])
            store.beat(job["job_id"], job["attempts"])
            store.finish(job["job_id"], SUCCESSFUL, "done", result={"n": n}, attempt=job["attempts"])
            store.get(job_id)
    except Exception as error:  # noqa: BLE001  (reported to the test)
        errors.put(repr(error))


def test_concurrent_writers_never_see_database_is_locked(url):
    context = multiprocessing.get_context("spawn")
    errors = context.Queue()
    workers = [context.Process(target=_hammer, args=(url, 40, errors)) for _ in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(180)
    assert errors.empty(), errors.get()
    assert JobStore(url).counts() == {SUCCESSFUL: 240}


def test_state_changes_are_conditional(url):
    store = JobStore(url)
    job_id = store.submit("P", {})
    assert not store.beat(job_id, 0), "a queued job has no heartbeat"
    assert store.claim("h", 1, 1)["job_id"] == job_id
    assert store.claim("h", 5, 1) is None, "nothing left to claim"
    assert store.finish(job_id, FAILED, "worker died")
    assert not store.finish(job_id, SUCCESSFUL, "late success"), "an ended job stays ended"
    job = store.get(job_id)
    assert job["status"] == FAILED and job["message"] == "worker died"
    with pytest.raises(ValueError):
        store.finish(job_id, RUNNING, "not final")


def test_the_queue_is_bounded_and_running_jobs_do_not_count(url):
    store = JobStore(url)
    first = store.submit("P", {}, max_queued=2)
    store.submit("P", {}, max_queued=2)
    with pytest.raises(QueueFull):
        store.submit("P", {}, max_queued=2)
    store.claim("h", 1, 1)
    assert store.get(first)["status"] == RUNNING
    store.submit("P", {}, max_queued=2)
    assert store.counts() == {RUNNING: 1, ACCEPTED: 2}


def test_requeue_dismiss_and_delete(url):
    store = JobStore(url)
    job_id = store.submit("P", {"x": 1})
    store.claim("h", 1, 1)
    assert store.requeue(job_id, 1)
    job = store.get(job_id)
    assert job["status"] == ACCEPTED and job["attempts"] == 1 and job["request"] == {"x": 1}
    assert store.claim("h", 1, 1)["attempts"] == 2
    assert store.delete([job_id]) == 0, "running jobs are never deleted"
    assert store.dismiss(job_id)
    assert store.get(job_id)["status"] == DISMISSED
    assert store.delete([job_id]) == 1 and store.get(job_id) is None


def test_only_the_current_run_of_a_job_changes_it(url):
    """A worker, or a judgement made on what was read of a job, belongs to one run (attempt):
    once the job was re-queued and claimed again, the old run changes nothing."""
    store = JobStore(url)
    job_id = store.submit("P", {})
    first = store.claim("h", 2, 1)["attempts"]
    assert store.requeue(job_id, first)
    second = store.claim("h", 2, 1)["attempts"]
    assert second == first + 1
    assert not store.requeue(job_id, first), "a stale requeue does not run the job a third time"
    assert not store.beat(job_id, first) and not store.progress(job_id, 50, "old", first)
    assert not store.set_pid(job_id, 123, first)
    assert not store.finish(job_id, FAILED, "the old worker died", attempt=first)
    assert store.state(job_id)["status"] == RUNNING
    assert store.beat(job_id, second)
    assert store.finish(job_id, SUCCESSFUL, "done", attempt=second)
    assert "request" not in store.state(job_id), "states leave the request out"


def test_stale_jobs_are_found_by_heartbeat(url):
    import time

    store = JobStore(url)
    job_id = store.submit("P", {})
    store.claim("h", 1, 1)
    assert [j["job_id"] for j in store.stale(time.time() + 1)] == [job_id]
    assert store.stale(time.time() - 60) == []


def test_job_pages_hold_states_newest_first_without_requests_or_results(url):
    store = JobStore(url)
    ids = []
    for n in range(3):
        ids.append(store.submit("P", {"n": n, "upload": "x" * 1000}))
        time.sleep(0.01)
    page = store.jobs(limit=2, offset=1)
    assert [job["job_id"] for job in page] == [ids[1], ids[0]]
    assert all("request" not in job and "result" not in job for job in page)
    assert store.get(ids[0])["request"]["n"] == 0


def test_a_draining_host_claims_nothing_while_others_still_claim(url):
    store = JobStore(url)
    submit_many(store, 4)
    running = store.claim("leaving", 10, os.getpid())
    assert store.drain("leaving") is True
    assert store.drain("leaving") is False, "already draining"
    assert set(store.draining_hosts()) == {"leaving"}
    assert store.claim("leaving", 10, os.getpid()) is None
    assert store.claim("staying", 10, os.getpid()) is not None
    # Its running job is untouched: still running there, and it can still end normally.
    assert [j["job_id"] for j in store.running_on("leaving")] == [running["job_id"]]
    assert store.state(running["job_id"])["status"] == RUNNING
    assert store.finish(running["job_id"], SUCCESSFUL, "done", attempt=running["attempts"])
    assert store.running_on("leaving") == []
    assert store.counts() == {SUCCESSFUL: 1, RUNNING: 1, ACCEPTED: 2}


def test_an_undrained_host_claims_again(url):
    store = JobStore(url)
    submit_many(store, 1)
    store.drain("back")
    assert store.claim("back", 1, os.getpid()) is None
    assert store.undrain("back") is True
    assert store.undrain("back") is False
    assert store.draining_hosts() == {}
    assert store.claim("back", 1, os.getpid()) is not None


def test_the_hosts_table_is_added_to_an_existing_database(tmp_path):
    import sqlalchemy as sa
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    JobStore(url).submit("P", {})
    with sa.create_engine(url).begin() as db:  # a database from before draining existed
        db.exec_driver_sql("DROP TABLE candela_hosts")
    store = JobStore(url)
    store.drain("h")
    assert list(store.draining_hosts()) == ["h"]
    assert store.claim("h", 1, os.getpid()) is None
