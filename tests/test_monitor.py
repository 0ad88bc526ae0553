"""The autoscaling monitor (candela.scaling.monitor): readings from a real job store, steps on
a fake clock, its state across a restart, /metrics over HTTP, ``candela-wps monitor --once``."""

import json
import logging
import math
import os
import subprocess
import sys
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest
from prometheus_client.parser import text_string_to_metric_families

from candela.jobs.store import JobStore
from candela.scaling import readings
from candela.scaling.actions import DryRun, Scaler, scaler_for
from candela.scaling.decision import Load, Policy, State
from candela.scaling.monitor import Monitor, policy_from

ROOT = Path(__file__).resolve().parents[1]
POLICY = Policy(target=2, tolerance=0.1, min_workers=1, max_workers=10, stabilisation=300, cooldown=60,
                up_period=60, up_pods=4, up_factor=2)


class Clock:
    """A clock the test moves."""

    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def store(tmp_path):
    return JobStore(f"sqlite:///{tmp_path / 'jobs.sqlite'}")


def submit(store, count):
    return [store.submit("ChangeDetect", {"inputs": {}}) for _ in range(count)]


def test_job_load_from_a_real_store(store):
    assert readings.job_load(store) == Load(0, 0, 0)
    submit(store, 6)
    assert store.claim("host-a", 2, os.getpid()) and store.claim("host-a", 2, os.getpid())
    assert store.claim("host-a", 2, os.getpid()) is None, "host-a is full"
    assert store.claim("host-b", 2, os.getpid())
    # 3 running on 2 hosts, 3 waiting.
    assert readings.job_load(store) == Load(accepted=3, running=3, busy_workers=2)
    # A draining host (on its way out) no longer holds up the count; its jobs still do.
    store.drain("host-b")
    assert readings.job_load(store) == Load(accepted=3, running=3, busy_workers=1)
    # Read through the monitor's lazily opened store too.
    assert readings.job_load(readings.LazyStore(store.url)) == Load(accepted=3, running=3, busy_workers=1)


def make_unreadable(store, tmp_path):
    """The store's database replaced by something that is not one (as a lost database)."""
    store.engine.dispose()
    (tmp_path / "jobs.sqlite").write_bytes(b"not a database" * 100)


def test_job_load_of_an_unreadable_store_is_none(store, tmp_path):
    submit(store, 2)
    make_unreadable(store, tmp_path)
    assert readings.job_load(store) is None
    assert readings.job_load(None) is None


def test_host_load_is_in_percent():
    host = readings.host_load()
    assert 0 <= host["cpu"] <= 100 and 0 < host["memory"] <= 100


def test_dask_without_a_scheduler_is_none():
    assert readings.dask_wanted("") is None
    # Not installed here, or nothing listening on port 1: None either way, and quickly.
    assert readings.dask_wanted("tcp://127.0.0.1:1", timeout=1) is None


def test_a_step_decides_logs_and_saves(store, tmp_path, caplog):
    submit(store, 8)
    monitor = Monitor(POLICY, DryRun(), store, tmp_path / "state.json", clock=Clock())
    assert monitor.state == State(1), "no state file, no count from the scaler: min_workers"
    with caplog.at_level(logging.INFO, logger="candela.monitor"):
        decision, done = monitor.step()
    assert (decision.workers, decision.previous) == (4, 1)
    logged = [json.loads(r.getMessage()) for r in caplog.records if r.getMessage().startswith("{")]
    assert logged == [done]
    assert done["action"] == "dry-run" and done["workers"] == 4 and "8 jobs at 2 per worker" in done["reasons"]
    saved = State.from_json((tmp_path / "state.json").read_text())
    assert saved.workers == 4 and saved.changed_at == 1000.0 and saved.wishes == ((1000.0, 4),)


def test_state_survives_a_restart(store, tmp_path):
    jobs = submit(store, 8)
    clock = Clock()
    Monitor(POLICY, DryRun(), store, tmp_path / "state.json", clock=clock).step()  # up to 4
    for job in jobs:
        store.dismiss(job)
    clock.now += 100  # past the cooldown, within the 300 s window
    restarted = Monitor(POLICY, DryRun(), store, tmp_path / "state.json", clock=clock)
    assert restarted.state.workers == 4
    decision, _ = restarted.step()
    assert decision.workers == 4 and any("stabilising" in r for r in decision.reasons)
    # A monitor without that memory would have gone straight down:
    forgetful = Monitor(POLICY, DryRun(), store, tmp_path / "other.json", clock=clock)
    forgetful.state = State(4)
    assert forgetful.step()[0].workers == 1
    clock.now += 201  # the window has passed since the wish for 4
    assert restarted.step()[0].workers == 1


def test_a_corrupt_state_file_starts_from_the_scalers_count(store, tmp_path, caplog):
    (tmp_path / "state.json").write_text("{not json")

    class Three(DryRun):
        def current(self):
            return 3

    with caplog.at_level(logging.INFO, logger="candela.monitor"):
        monitor = Monitor(POLICY, Three(), store, tmp_path / "state.json", clock=Clock())
    assert monitor.state == State(3)
    assert any("state file unreadable" in r.getMessage() for r in caplog.records)


def test_an_unreadable_store_holds(store, tmp_path):
    submit(store, 8)
    clock = Clock()
    monitor = Monitor(POLICY, DryRun(), store, tmp_path / "state.json", clock=clock)
    monitor.step()
    make_unreadable(store, tmp_path)
    clock.now += 1000
    decision, _ = monitor.step()
    assert decision.workers == 4 and decision.reasons == ["metrics missing: holding"]
    values = samples(monitor.metrics.registry.collect())
    assert values[("candela_monitor_metrics_missing", (("source", "jobs"),))] == 1
    assert math.isnan(values[("candela_monitor_accepted_jobs", ())])
    assert values[("candela_monitor_desired_workers", ())] == 4


def test_the_cluster_count_wins_over_the_remembered_one(store, tmp_path):
    """Someone scaled the cluster by hand: the next decision starts from what it has."""

    class Manual(DryRun):
        workers = 1

        def current(self):
            return self.workers

    scaler = Manual()
    monitor = Monitor(POLICY, scaler, store, tmp_path / "state.json", clock=Clock())
    scaler.workers = 6
    decision, _ = monitor.step()  # no jobs: wants 1, but stabilises from 6 (no earlier wishes)
    assert decision.previous == 6


def test_a_failing_scaler_does_not_stop_the_monitor(store, tmp_path):
    class Broken(Scaler):
        name = "broken"

        def apply(self, decision, load):
            raise RuntimeError("API down")

    submit(store, 4)
    decision, done = Monitor(POLICY, Broken(), store, tmp_path / "state.json", clock=Clock()).step()
    assert decision.workers == 2 and done == {"action": "broken", "error": "API down"}


def samples(families):
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}


class NodesScaler(DryRun):
    """A scaler with endpoints of its own (as the OpenStack one's /nodes)."""

    def app(self):
        def answer(environ, start_response):
            start_response("201 Created", [("Content-Type", "text/plain")])
            return [f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}".encode()]

        return answer


def test_metrics_over_http(store, tmp_path):
    submit(store, 8)
    store.claim("host-a", 4, os.getpid())
    monitor = Monitor(POLICY, DryRun(), store, tmp_path / "state.json", clock=Clock())
    monitor.step()
    server = monitor.serve(0)
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        text = urlopen(base + "/metrics", timeout=10).read().decode()
        with pytest.raises(HTTPError) as missing:
            urlopen(base + "/nodes", timeout=10)
        assert missing.value.code == 404
    finally:
        server.shutdown()
        server.server_close()
    values = samples(text_string_to_metric_families(text))
    assert values[("candela_monitor_accepted_jobs", ())] == 7
    assert values[("candela_monitor_running_jobs", ())] == 1
    assert values[("candela_monitor_busy_workers", ())] == 1
    assert values[("candela_monitor_desired_workers", ())] == 4
    assert values[("candela_monitor_current_workers", ())] == 4
    assert values[("candela_monitor_scale_events_total", (("direction", "up"),))] == 1
    assert values[("candela_monitor_scale_events_total", (("direction", "down"),))] == 0
    assert values[("candela_monitor_metrics_missing", (("source", "jobs"),))] == 0
    assert values[("candela_monitor_metrics_missing", (("source", "dask"),))] == 0, "not configured: not missing"
    assert 0 <= values[("candela_monitor_host_memory_percent", ())] <= 100


def test_other_paths_go_to_the_scalers_app(store, tmp_path):
    monitor = Monitor(POLICY, NodesScaler(), store, tmp_path / "state.json", clock=Clock())
    server = monitor.serve(0)
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        answer = urlopen(Request(base + "/nodes", data=b"{}", method="POST"), timeout=10)
        assert answer.status == 201 and answer.read() == b"POST /nodes"
        assert b"candela_monitor_desired_workers" in urlopen(base + "/metrics", timeout=10).read()
    finally:
        server.shutdown()
        server.server_close()


def test_policy_and_scaler_from_the_section():
    policy = policy_from({"target": "3", "min_workers": "2", "max_workers": "", "stabilisation": "600"})
    assert (policy.target, policy.min_workers, policy.max_workers, policy.stabilisation) == (3.0, 2, 10, 600.0)
    assert isinstance(policy.min_workers, int)
    with pytest.raises(SystemExit, match="min_workers"):
        policy_from({"min_workers": "20", "max_workers": "10"})
    with pytest.raises(SystemExit, match="target"):
        policy_from({"target": "many"})
    assert isinstance(scaler_for({"action": "dry-run"}), DryRun)
    with pytest.raises(SystemExit, match="use one of"):
        scaler_for({"action": "docker"})


def test_monitor_once_command(tmp_path):
    store = JobStore(f"sqlite:///{tmp_path / 'jobs.sqlite'}")
    submit(store, 6)
    store.engine.dispose()
    state = tmp_path / "state.json"
    (tmp_path / "test.cfg").write_text(
        f"[logging]\ndatabase = sqlite:///{tmp_path / 'jobs.sqlite'}\n\n"
        f"[monitor]\naction = dry-run\nstate = {state}\nmin_workers = 1\ntarget = 2\n")
    result = subprocess.run([sys.executable, "wsgi.py", "monitor", "--once"], cwd=ROOT,
                            env={**os.environ, "PYWPS_CFG": str(tmp_path / "test.cfg"),
                                 "CANDELA_HOME": str(tmp_path)},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    decision = json.loads(result.stdout.strip().splitlines()[-1])
    assert decision["workers"] == 3 and decision["previous"] == 1
    assert "6 jobs at 2 per worker" in decision["reasons"] and decision["done"]["action"] == "dry-run"
    assert State.from_json(state.read_text()).workers == 3


def test_a_store_that_cannot_open_yet_holds_then_counts(tmp_path):
    attempts = []

    def opener(url):
        attempts.append(url)
        if len(attempts) == 1:
            raise OSError("connection refused")
        return JobStore(url)

    url = f"sqlite:///{tmp_path / 'jobs.sqlite'}"
    lazy = readings.LazyStore(url, opener)
    assert readings.job_load(lazy) is None, "down at first: hold"
    submit(JobStore(url), 3)
    assert readings.job_load(lazy) == Load(3, 0, 0), "opened on the next reading"
    assert readings.job_load(lazy) == Load(3, 0, 0) and len(attempts) == 2, "and kept open"


def test_openstack_without_its_module_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "candela.scaling.openstack", None)  # as if not installed
    with pytest.raises(SystemExit, match="action = openstack needs candela.scaling.openstack"):
        scaler_for({"action": "openstack"})


def test_run_steps_until_stopped(store, tmp_path):
    import threading

    submit(store, 4)
    monitor = Monitor(POLICY, DryRun(), store, tmp_path / "state.json", clock=Clock())
    thread = threading.Thread(target=monitor.run, args=(0.01,))
    thread.start()
    try:
        assert _wait(lambda: monitor.last is not None)
    finally:
        monitor.stop()
        thread.join(5)
    assert not thread.is_alive() and monitor.last[0].workers == 2


def _wait(condition, seconds=5):
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_monitor_command_serves_metrics_and_stops_on_sigterm(tmp_path):
    import signal
    import socket

    with socket.socket() as probe:  # a free port (released for the monitor just after)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (tmp_path / "test.cfg").write_text(
        f"[logging]\ndatabase = sqlite:///{tmp_path / 'jobs.sqlite'}\n\n"
        f"[monitor]\nstate = {tmp_path / 'state.json'}\ninterval = 0.2\nport = 1\n")
    process = subprocess.Popen([sys.executable, "wsgi.py", "monitor", "--port", str(port)], cwd=ROOT,
                               env={**os.environ, "PYWPS_CFG": str(tmp_path / "test.cfg"),
                                    "CANDELA_HOME": str(tmp_path)},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def scraped():
            try:
                return b"candela_monitor_desired_workers 1.0" in urlopen(
                    f"http://127.0.0.1:{port}/metrics", timeout=2).read()
            except OSError:
                return False

        assert _wait(scraped, 60), "the --port override serves /metrics after a step"
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
    assert (tmp_path / "state.json").is_file()


def _sleep_a_second(n):
    import time

    time.sleep(1)
    return n


def test_a_step_scales_to_the_workers_a_real_dask_scheduler_wants(store, tmp_path, dask_cluster):
    local, client = dask_cluster
    monitor = Monitor(POLICY, DryRun(), store, tmp_path / "state.json", clock=Clock(),
                      dask_address=local.scheduler_address)
    futures = client.map(_sleep_a_second, range(100), pure=False)
    try:
        wanted = 0
        for _ in range(50):  # the scheduler sizes its target once it has seen the tasks
            wanted = readings.dask_wanted(local.scheduler_address)
            if wanted and wanted > 2:
                break
        assert wanted > 2, wanted
        decision, done = monitor.step()
    finally:
        client.cancel(futures)
    # No job in the store: the scheduler's wish alone raised the count (rate-limited to +4).
    assert decision.workers == 5 and "the Dask scheduler wants" in done["reasons"][0], done
    values = samples(monitor.metrics.registry.collect())
    assert values[("candela_monitor_dask_wanted_workers", ())] > 2
    assert values[("candela_monitor_metrics_missing", (("source", "dask"),))] == 0


def test_an_unreachable_dask_scheduler_stops_scaling_down_only(store, tmp_path):
    clock = Clock()
    state = tmp_path / "state.json"
    state.write_text(State(6, changed_at=0.0).to_json())
    monitor = Monitor(POLICY, DryRun(), store, state, clock=clock, dask_address="tcp://127.0.0.1:1")
    decision, done = monitor.step()
    assert decision.workers == 6 and "not scaling down" in " ".join(done["reasons"]), done
    submit(store, 20)
    clock.now += 30
    decision, _ = monitor.step()
    assert decision.workers == 10, "the jobs still scale it up"
    values = samples(monitor.metrics.registry.collect())
    assert values[("candela_monitor_metrics_missing", (("source", "dask"),))] == 1
