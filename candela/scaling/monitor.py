"""The autoscaling monitor: measure, decide, act, remember, export; every ``interval`` seconds.

Each :meth:`Monitor.step` reads the load from the job store (:mod:`.readings`), asks
:func:`.decision.decide` for the workers wanted, has the scaler (:mod:`.actions`) carry it out,
saves the decision state to a file (atomically, so a restart continues the stabilisation
window and cooldown instead of starting over) and updates Prometheus metrics. The monitor's
HTTP server answers ``/metrics`` and hands every other path to the scaler's own app.
"""

import json
import logging
import os
import tempfile
import threading
import time
from dataclasses import fields, replace
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, make_wsgi_app

from candela.scaling import readings
from candela.scaling.decision import Policy, State, decide

LOG = logging.getLogger("candela.monitor")

#: The ``[monitor]`` options that make the :class:`Policy` (same names as its fields).
POLICY_OPTIONS = tuple(f.name for f in fields(Policy))


def policy_from(section):
    """A :class:`Policy` from the ``[monitor]`` section (a mapping with ``get``); options left
    empty keep the policy's defaults. Durations are plain seconds."""
    values = {}
    for f in fields(Policy):
        text = (section.get(f.name, "") or "").strip()
        if text:
            kind = int if f.type in (int, "int") else float
            try:
                values[f.name] = kind(text)
            except ValueError:
                raise SystemExit(f"[monitor] {f.name} = {text!r}: a number is needed") from None
    try:
        return Policy(**values)
    except ValueError as error:
        raise SystemExit(f"[monitor] {error}") from None


class Metrics:
    """The monitor's Prometheus metrics, in a registry of their own (not the process default,
    so tests and several monitors in one process do not clash)."""

    def __init__(self, registry=None):
        self.registry = registry = registry or CollectorRegistry()

        def gauge(name, text, labels=()):
            return Gauge(f"candela_monitor_{name}", text, labels, registry=registry)

        self.accepted = gauge("accepted_jobs", "Jobs waiting for a worker")
        self.running = gauge("running_jobs", "Jobs running")
        self.busy = gauge("busy_workers", "Workers (hosts) running at least one job")
        self.cpu = gauge("host_cpu_percent", "CPU use of the monitor's host")
        self.memory = gauge("host_memory_percent", "Memory use of the monitor's host")
        self.dask = gauge("dask_wanted_workers", "Workers the Dask scheduler's adaptive target wants")
        self.desired = gauge("desired_workers", "Workers the last decision wanted")
        self.current = gauge("current_workers", "Workers the cluster has (as the scaler reports, else as decided)")
        self.missing = gauge("metrics_missing", "1 when a reading could not be taken at the last step", ["source"])
        self.events = Counter("candela_monitor_scale_events", "Changes of the worker count", ["direction"],
                              registry=registry)
        for direction in ("up", "down"):  # exported at 0 from the start, so rate() works at once
            self.events.labels(direction)

    def record(self, load, host, dask, decision, current, dask_configured):
        nan = float("nan")  # a reading not taken is not a zero
        self.accepted.set(load.accepted if load else nan)
        self.running.set(load.running if load else nan)
        self.busy.set(load.busy_workers if load else nan)
        self.cpu.set(host["cpu"] if host else nan)
        self.memory.set(host["memory"] if host else nan)
        self.dask.set(nan if dask is None else dask)
        self.desired.set(decision.workers)
        self.current.set(current)
        self.missing.labels("jobs").set(load is None)
        self.missing.labels("host").set(host is None)
        self.missing.labels("dask").set(dask_configured and dask is None)
        if decision.change:
            self.events.labels("up" if decision.change > 0 else "down").inc()


class Monitor:
    """Drives ``scaler`` from the load of ``store`` under ``policy``; its state lives in ``state_path``."""

    def __init__(self, policy, scaler, store, state_path, clock=time.time, registry=None, dask_address=None):
        self.policy = policy
        self.scaler = scaler
        self.store = store
        self.state_path = Path(state_path)
        self.clock = clock
        self.dask_address = dask_address or None
        self.metrics = Metrics(registry)
        self.stopped = threading.Event()
        self.state = self._load_state()
        self.last = None  # (decision, what the scaler did) of the last step

    # State

    def _load_state(self):
        try:
            return State.from_json(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            why = "no state file"
        except (ValueError, KeyError, TypeError) as error:  # corrupt: not worth refusing to start
            why = f"state file unreadable ({error})"
        current = self._current()
        workers = self.policy.min_workers if current is None else current
        LOG.info("%s at %s: starting from %d workers", why, self.state_path, workers)
        return State(workers)

    def _save_state(self):
        # Written beside the file and renamed over it: a crash mid-write leaves the old state whole.
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.state_path.parent, prefix=self.state_path.name, suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(self.state.to_json())
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.state_path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _current(self):
        try:
            return self.scaler.current()
        except Exception as error:  # the cluster's API down: decide on what was last known
            LOG.warning("%s: current worker count unreadable: %s", self.scaler.name, error)
            return None

    # The loop

    def step(self):
        """Measure, decide, apply, save, export once; answer the decision and what was done."""
        now = self.clock()
        current = self._current()
        if current is not None and current != self.state.workers:
            # Someone (an operator, a failed apply) changed the cluster: decide from what it has.
            LOG.info("%s reports %d workers, not the %d last decided", self.scaler.name, current, self.state.workers)
            self.state = replace(self.state, workers=current)
        load = readings.job_load(self.store)
        host = readings.host_load()
        dask = readings.dask_wanted(self.dask_address)
        if load is not None and self.dask_address:
            load = replace(load, dask_wanted=dask, dask_missing=dask is None)
        decision, next_state = decide(self.policy, self.state, load, now)
        try:
            done = self.scaler.apply(decision, load)
        except Exception as error:  # kept deciding: the next step re-reads the cluster and retries
            LOG.error("%s could not apply %d workers: %s", self.scaler.name, decision.workers, error)
            done = {"action": self.scaler.name, "error": str(error)}
        self.state = next_state
        self._save_state()
        # After a failed apply the cluster still has what it reported, if it could tell.
        shown = current if "error" in done and current is not None else decision.workers
        self.metrics.record(load, host, dask, decision, shown, bool(self.dask_address))
        self.last = (decision, done)
        return decision, done

    def run(self, interval):
        """Step every ``interval`` seconds until :meth:`stop`; a failed step is logged, not fatal."""
        while not self.stopped.is_set():
            try:
                self.step()
            except Exception:
                LOG.exception("monitor step failed")
            self.stopped.wait(interval)

    def stop(self):
        self.stopped.set()

    # HTTP

    def app(self):
        """The monitor's WSGI app: ``/metrics``, else the scaler's own endpoints, else 404."""
        metrics = make_wsgi_app(self.metrics.registry)
        scaler_app = self.scaler.app()

        def application(environ, start_response):
            if environ.get("PATH_INFO", "") == "/metrics":
                return metrics(environ, start_response)
            if scaler_app is not None:
                return scaler_app(environ, start_response)
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"Not found: the monitor answers /metrics\n"]

        return application

    def serve(self, port, host="127.0.0.1"):
        """Serve :meth:`app` on ``host:port`` in a daemon thread; answer the server (``server_port``
        is the port bound, for port 0; ``shutdown()`` stops it)."""
        server = make_server(host, port, self.app(), handler_class=QuietHandler)
        threading.Thread(target=server.serve_forever, name="monitor-http", daemon=True).start()
        return server


class QuietHandler(WSGIRequestHandler):
    """Requests logged at debug level (a Prometheus scrape every few seconds is not news)."""

    def log_message(self, format, *args):
        LOG.debug("http %s: " + format, self.address_string(), *args)


def decision_json(decision, done):
    """One line of JSON for a decision and what the scaler did (``candela-wps monitor --once``)."""
    return json.dumps({"workers": decision.workers, "previous": decision.previous, "change": decision.change,
                       "reasons": list(decision.reasons), "done": done})
