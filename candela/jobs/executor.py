"""The executor: runs queued jobs, each in a fresh process, never more than ``slots`` per host.

Why a fresh process per job, started by exec: a process that has run GDAL's thread pool or
TensorFlow, or holds SQLite connections or threads, cannot safely fork a child that runs them
again (the child deadlocks). An exec'd worker inherits none of that, nor any open socket, so an
orphaned worker never holds the server's listening port.

The store is the queue: a job is claimed atomically by one executor, so several server
processes (gunicorn workers, several hosts) can each run an executor over one store. Each
loop of :meth:`Executor.run_once`:

1. reaps its own workers that exited, failing their job when it has not ended (killed by a
   signal, crashed, out of memory), and updates their status documents;
2. stops workers past the wall-clock limit, and those whose job ended meanwhile (dismissed);
3. looks at the other running jobs of this host: a worker that is gone (its server died
   with it) is re-queued or failed by the recovery policy; one whose heartbeat stopped is
   killed and failed;
4. fails running jobs of other hosts whose heartbeat stopped (the host is gone);
5. claims queued jobs while slots are free, and starts a worker for each.

None of this waits for a client to poll.
"""

import logging
import os
import signal
import subprocess
import threading
import time

from .store import FAILED, FINAL, SUCCESSFUL, this_host

LOGGER = logging.getLogger("candela.jobs")

#: Seconds a worker may take to exit after its job ended before it is killed.
EXIT_GRACE = 5


def worker_alive(pid, job_id):
    """Whether ``pid`` is a live (non-zombie) worker of ``job_id`` on this host. The job id in
    its command line guards against a recycled pid."""
    for _ in range(3):
        try:
            with open(f"/proc/{int(pid)}/cmdline", "rb") as cmdline:
                text = cmdline.read()
        except (OSError, ValueError, TypeError):
            return False
        if text:
            return str(job_id).encode() in text and process_alive(pid)
        time.sleep(0.02)  # just after exec the kernel shows an empty command line for a moment
    return process_alive(pid)


def process_alive(pid):
    """Whether a process with this pid runs here (a zombie counts as dead)."""
    try:
        with open(f"/proc/{int(pid)}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, ValueError, IndexError, TypeError):
        return False


def find_worker(job_id):
    """The pid of a worker of ``job_id`` on this host (its command line names the job), or None:
    a worker can run before its pid was recorded."""
    marker = str(job_id).encode()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as cmdline:
                    if marker in cmdline.read():
                        return int(entry.name)
            except OSError:
                continue
    return None


def kill_worker(pid):
    """SIGKILL a worker and everything it started (it leads its own process group)."""
    try:
        os.killpg(int(pid), signal.SIGKILL)
    except (ProcessLookupError, PermissionError, ValueError, TypeError):
        pass


def stop_worker(pid, job_id, timeout=10):
    """Kill a worker of ``job_id`` and wait until it is gone (or ``timeout`` seconds)."""
    if not worker_alive(pid, job_id):
        return
    kill_worker(pid)
    deadline = time.monotonic() + timeout
    while worker_alive(pid, job_id) and time.monotonic() < deadline:
        time.sleep(0.05)


def exit_reason(returncode):
    """Why a worker ended, in words for the user."""
    if returncode < 0:
        number = -returncode
        name = signal.Signals(number).name if number in signal.valid_signals() else f"signal {number}"
        if number == signal.SIGXCPU:
            return "it used up the CPU-time limit"
        if number == signal.SIGKILL:
            return f"it was killed ({name}; the host may have run out of memory)"
        return f"it was stopped by {name}"
    return f"it exited with code {returncode} without reporting a result"


class Executor:
    """Runs the store's queued jobs in worker processes started by ``command(job)``.

    ``on_ended(job, message)`` is called when the executor (not the worker) ends a job, so the
    protocol layer can update what clients read (a WPS status document).
    """

    def __init__(self, store, command, slots, walltime, heartbeat_timeout, recovery="requeue",
                 max_attempts=2, on_ended=None, poll=0.5, host=None, env=None, cwd=None):
        if recovery not in ("requeue", "fail"):
            raise ValueError("recovery must be 'requeue' or 'fail'")
        self.store = store
        self.command = command
        self.slots = int(slots)
        self.walltime = float(walltime)
        self.heartbeat_timeout = float(heartbeat_timeout)
        self.recovery = recovery
        self.max_attempts = int(max_attempts)
        self.on_ended = on_ended
        self.poll = poll
        self.host = host or this_host()
        self.env = env
        self.cwd = cwd
        self.children = {}  # job id -> (Popen, the run it serves)
        self._wake = threading.Event()
        self._thread = None
        self._pid = None
        self._lock = threading.Lock()

    # Life cycle

    def ensure_started(self):
        """Start the loop in this process (again after a fork: threads do not survive one)."""
        with self._lock:
            if self._pid == os.getpid() and self._thread and self._thread.is_alive():
                return
            self._pid = os.getpid()
            self.children = {}
            self._thread = threading.Thread(target=self._loop, name="candela-executor", daemon=True)
            self._thread.start()

    def wake(self):
        """A job was queued or ended: look now rather than at the next poll."""
        self._wake.set()

    def _loop(self):
        while True:
            try:
                self.run_once()
            except Exception:  # a database hiccup must not end the loop
                LOGGER.exception("Executor loop failed; retrying")
                time.sleep(2)
            self._wake.wait(self.poll)
            self._wake.clear()

    def run_once(self):
        self._reap_children()
        running = {job["job_id"]: job for job in self.store.running_on(self.host)}  # read once a loop
        self._stop_overdue_children(running)
        self._check_this_host(running)
        self._check_other_hosts()
        self._start_queued()

    # The steps

    def _reap_children(self):
        for job_id, (child, attempt) in list(self.children.items()):
            if child.poll() is None:
                continue
            del self.children[job_id]
            self._wake.set()  # a slot is free
            job = self.store.state(job_id)
            if job is None or job["attempts"] != attempt:
                continue  # deleted, or re-queued and run again elsewhere
            if job["status"] not in FINAL:
                self._fail(job, f"The worker running this job stopped: {exit_reason(child.returncode)}.")
            elif job["status"] != SUCCESSFUL:
                self._ended(job, job["message"])  # again: the worker may have written after it ended

    def _stop_overdue_children(self, running):
        now = time.time()
        for job_id, (child, attempt) in list(self.children.items()):
            job = running.get(job_id) or self.store.state(job_id)  # not running: ended, or gone
            if job is None or job["attempts"] != attempt or job["status"] in FINAL:
                if job is None or job["finished"] is None or now - job["finished"] > EXIT_GRACE:
                    kill_worker(child.pid)  # dismissed, failed by another executor, or deleted
            else:
                self._stop_if_overdue(job, child.pid, now)

    def _check_this_host(self, running):
        now = time.time()
        for job in running.values():
            if job["job_id"] in self.children:
                continue
            silent = job["heartbeat"] < now - self.heartbeat_timeout
            if job["supervisor"] != os.getpid() and process_alive(job["supervisor"]) and not silent:
                continue  # another server process on this host supervises it, and it beats
            pid = job["pid"] or find_worker(job["job_id"])
            if pid and worker_alive(pid, job["job_id"]):
                self._stop_if_overdue(job, pid, now)  # e.g. left by an earlier server: let it finish
            else:
                self._recover(job)  # its worker is gone, or its supervisor died before starting one

    def _stop_if_overdue(self, job, pid, now):
        """Kill, then fail, a live worker past the wall-clock limit, or whose heartbeat stopped."""
        if job["started"] and now - job["started"] > self.walltime:
            message = f"The job ran longer than the {self.walltime:.0f} s allowed and was stopped."
        elif job["heartbeat"] and now - job["heartbeat"] > self.heartbeat_timeout:
            message = "The worker running this job stopped responding and was stopped."
        else:
            return
        kill_worker(pid)  # first: a worker still running could write over what _fail records
        self._fail(job, message)

    def _check_other_hosts(self):
        for job in self.store.stale(time.time() - self.heartbeat_timeout):
            if job["host"] != self.host:
                self._recover(job)

    def _start_queued(self):
        while len(self.children) < self.slots:
            job = self.store.claim(self.host, self.slots, os.getpid())
            if job is None:
                return
            try:
                child = subprocess.Popen(self.command(job), cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
                                         close_fds=True, start_new_session=True)
            except Exception as error:
                LOGGER.exception("Could not start a worker for job %s", job["job_id"])
                self._fail(job, f"No worker could be started for this job ({type(error).__name__}).")
                continue
            self.children[job["job_id"]] = (child, job["attempts"])
            self.store.set_pid(job["job_id"], child.pid, job["attempts"])
            LOGGER.info("Job %s (%s) started in worker %s", job["job_id"], job["process"], child.pid)

    # Ending jobs

    def _recover(self, job):
        """A running job whose worker is gone, found by someone other than its supervisor."""
        if self.recovery == "requeue" and job["attempts"] < self.max_attempts:
            if self.store.requeue(job["job_id"], job["attempts"]):
                LOGGER.warning("Job %s: its worker is gone; re-queued", job["job_id"])
                self._wake.set()
            return
        self._fail(job, "The worker running this job stopped (its server was stopped or crashed).")

    def _fail(self, job, message):
        """Fail the run of ``job`` that was read, if it is still current."""
        if self.store.finish(job["job_id"], FAILED, message, attempt=job["attempts"]):
            LOGGER.warning("Job %s failed: %s", job["job_id"], message)
            self._ended({**job, "status": FAILED, "message": message}, message)

    def _ended(self, job, message):
        if self.on_ended:
            try:
                self.on_ended(job, message)
            except Exception:
                LOGGER.exception("Job %s: could not record its end for clients", job["job_id"])
