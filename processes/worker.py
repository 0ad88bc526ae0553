"""A worker: one job, run in a fresh process started by the executor.

``python -m processes.worker [--config FILE]... JOB_ID``. The job must have been claimed
(status running). The worker rebuilds the request the server checked, runs the process,
writes the status document (async jobs) and records the end in the job store. While it runs,
a thread beats the job's heartbeat; when the job is no longer running (dismissed, or failed
by an executor) the worker stops at once. Its CPU time is limited by ``[candela] cputime``.
"""

import argparse
import errno
import logging
import os
import resource
import shutil
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

from pywps import WPSRequest, configuration
from pywps.app.exceptions import ProcessError
from pywps.response.status import WPS_STATUS
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

from candela.jobs import JobStore
from candela.jobs.store import FAILED, SUCCESSFUL

from . import config
from .registry import load_process
from .jobcontrol import job_ended
from .jobfiles import job_folder, output_folder, remove_work, status_document, upload_folder
from .jobrequests import MissingUpload, final_state, load_request, prepare
from .recording import provenance, record_job
from .service import CandelaService, JobResponse
from .statusdoc import mark_failed
from .wpsresponse import check_embedded

LOGGER = logging.getLogger("PYWPS")

STORE_FAILED = "The job's results could not be stored on the server (its disk may be full)."
INTERNAL = "Process failed, please check server error log"
NOT_RECORDED = " (its results could not be recorded in the results store: see the server log)"


class Heartbeat(threading.Thread):
    """Beats the job's heartbeat; ends the process when the job was ended by someone else."""

    def __init__(self, store, job_id, attempt, interval):
        super().__init__(name="candela-heartbeat", daemon=True)
        self.store, self.job_id, self.attempt, self.interval = store, job_id, attempt, interval
        self.done = threading.Event()

    def run(self):
        while not self.done.wait(self.interval):
            try:
                still_running = self.store.beat(self.job_id, self.attempt)
            except Exception:  # the database may be busy for a moment; the next beat will tell
                LOGGER.warning("Job %s: heartbeat not recorded", self.job_id, exc_info=True)
                continue
            if not still_running and not self.done.is_set():
                LOGGER.warning("Job %s was ended elsewhere (dismissed or failed); stopping", self.job_id)
                os._exit(3)


def limit_cpu(seconds):
    """Past ``seconds`` of CPU time the kernel sends SIGXCPU, which ends the worker; its
    executor then fails the job saying so. No core files from that."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    soft = int(seconds)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 30))


def offer_to_the_oom_killer():
    """When memory runs out, the kernel should end a job, not the server that accepted it."""
    try:
        with open("/proc/self/oom_score_adj", "w") as score:
            score.write("1000")
    except OSError:
        pass


def restore_request(saved, uploads):
    request = WPSRequest()
    request.operation = "execute"
    for key in ("version", "language", "identifier", "store_execute", "status", "lineage", "outputs", "raw",
                "default_mimetype"):
        setattr(request, key, saved[key])
    request.http_request = SimpleNamespace(accept_mimetypes=parse_accept_header(saved["accept"], MIMEAccept))
    request.inputs = load_request(saved, uploads)
    return request


def run_job(store, job):
    """Run a claimed job to its end and record that end; return the final status."""
    job_id, attempt = job["job_id"], job["attempts"]
    folder = job_folder(job_id)
    process = load_process(job["process"])
    service = CandelaService([process], store=store, executor=None)
    process = prepare(process, job_id, folder)
    Path(process.workdir).mkdir(parents=True, exist_ok=True)
    try:
        wps_request = restore_request(job["request"], upload_folder(job_id))
    except MissingUpload as error:  # no request to answer with: the job ends failed, saying why
        LOGGER.error("Job %s: %s", job_id, error)
        if store.finish(job_id, FAILED, str(error), attempt=attempt):
            job_ended(job, str(error))  # its status document and folders, as for any job ended unrun
        return FAILED
    response = JobResponse(wps_request, uuid=job_id, process=process)
    response.store_status_file = job["mode"] == "async"
    response.job_store, response.attempt = store, attempt
    try:
        service.parse_inputs(process, wps_request)
        process.setup_outputs_from_wps_request(wps_request)
        response._update_status(WPS_STATUS.STARTED, "Started", 0)
        process.handler(wps_request, response)
        check_embedded(response)  # before the document that would embed them is written
    except ProcessError as error:
        fail(response, f"Process error: {error}")
    except Exception as error:
        LOGGER.exception("Job %s (%s) failed", job_id, job["process"])
        fail(response, STORE_FAILED if disk_full(error) else INTERNAL)
    else:
        try:
            response._update_status(WPS_STATUS.SUCCEEDED, f"Process {process.title} finished", 100)
        except Exception:
            LOGGER.exception("Job %s: storing its results failed", job_id)
            fail(response, STORE_FAILED)
    status = SUCCESSFUL if response.status == WPS_STATUS.SUCCEEDED else FAILED
    result = final_state(response)
    message = response.message
    if status == SUCCESSFUL and not record(process, job_id, result["outputs"]):
        message += NOT_RECORDED
    if not store.finish(job_id, status, message, result=result, attempt=attempt):
        ended = store.state(job_id)  # ended meanwhile by someone else: what they said stands
        if response.store_status_file and ended and ended["status"] != SUCCESSFUL:
            mark_failed(status_document(job_id), ended["message"])
        status = ended["status"] if ended else status
    if configuration.get_config_value("server", "cleantempdir"):
        remove_work(job_id)
    return status


def record(process, job_id, outputs):
    """Record a succeeded job in the results store when its run asked to be; False when that
    failed (the job's outputs stand: they are published already)."""
    job = getattr(process, "finished_job", None)
    if job is None or job.recording is None:
        return True
    try:
        record_job(job.recording, job.operation, job_id, *provenance(job), outputs)
    except Exception:
        LOGGER.exception("Job %s: recording its results in the results store failed", job_id)
        return False
    return True


def disk_full(error):
    """Whether ``error`` or one it arose from is a full disk (PyWPS wraps them in its own)."""
    while error is not None:
        if getattr(error, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or "No space left" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


def fail(response, message):
    """End the job failed. Failing must reach the status document even on a full disk: the
    job's outputs are removed first (they are useless now, and they free the space)."""
    job_id = response.uuid
    shutil.rmtree(output_folder(job_id), ignore_errors=True)
    try:
        response._update_status(WPS_STATUS.FAILED, message, 100)
    except Exception:
        LOGGER.exception("Job %s: writing its failure failed", job_id)
        response.message, response.status, response.status_percentage = message, WPS_STATUS.FAILED, 100
        if response.store_status_file:
            mark_failed(status_document(job_id), message)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Run one claimed job (started by the executor)")
    parser.add_argument("--config", action="append", default=[], help="configuration file, after the packaged one")
    parser.add_argument("--attempt", type=int, required=True, help="the run of the job this worker serves")
    parser.add_argument("job_id")
    args = parser.parse_args(argv)
    config.load_config(args.config)
    level = configuration.get_config_value("logging", "level") or "INFO"
    logging.basicConfig(level=level, format=f"%(asctime)s %(levelname)s job {args.job_id[:8]}: %(message)s")
    store = JobStore(configuration.get_config_value("logging", "database"))
    if not store.set_pid(args.job_id, os.getpid(), args.attempt):
        LOGGER.error("Job %s is not running as run %s; nothing to do", args.job_id, args.attempt)
        return 1
    job = store.get(args.job_id)
    limit_cpu(config.seconds("cputime", "12h"))
    offer_to_the_oom_killer()
    heartbeat = Heartbeat(store, args.job_id, args.attempt, config.seconds("heartbeat", "10s"))
    heartbeat.start()
    try:
        run_job(store, job)
    finally:
        heartbeat.done.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
