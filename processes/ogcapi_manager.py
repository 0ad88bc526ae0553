"""pygeoapi's process manager over our job store: OGC API - Processes jobs are WPS jobs.

Submitting builds the WPS request of the execute request (:mod:`processes.ogcapi`) and hands
it to the WPS service's ``execute``, so every check (unknown inputs, too many values,
booleans, required inputs, the queue's room) and every guarantee of a job (a fresh worker,
heartbeats, limits, a final state) is the one WPS requests get; the job is recorded as
submitted through ``ogcapi``. Job listing, status, results and dismissal read and change the
same :class:`~candela.jobs.JobStore`, so a job is seen alike through both protocols.
"""

from datetime import datetime, timezone
from functools import cached_property
from http import HTTPStatus

from pygeoapi.process.base import JobNotFoundError, ProcessorExecuteError
from pygeoapi.process.manager.base import BaseManager
from pygeoapi.util import DATETIME_FORMAT, JobStatus, RequestedProcessExecutionMode
from pywps import WPSRequest
from pywps.exceptions import NoApplicableCode, ServerBusy

from candela.jobs.store import FINAL, SUCCESSFUL

from . import registry
from .cleanup import remove_job
from .ogcapi import results, wps_inputs, wps_outputs
from .jobcontrol import dismiss
from .service import CandelaService

PROTOCOL = "ogcapi"
JSON = "application/json"


class CandelaManager(BaseManager):
    """Named in pygeoapi's configuration by its Python path; its processes are the
    :class:`~processes.ogcapi.OperationProcessor` resources of that configuration."""

    def __init__(self, manager_def):
        super().__init__(manager_def)
        self.is_async = True

    @cached_property
    def service(self):
        """The WPS service of these operations; its job store and executor are the server's
        (one of each per job database in a process)."""
        return CandelaService(registry.processes("wps", list(self.operations.values())))

    @cached_property
    def operations(self):
        return {identifier: registry.load_operation(conf["processor"]["operation"])
                for identifier, conf in self.processes.items()}

    @cached_property
    def identifiers(self):
        """``{operation path: process identifier}``, to name a job's process by its binding key."""
        return {conf["processor"]["operation"]: identifier for identifier, conf in self.processes.items()}

    @property
    def store(self):
        return self.service.store

    # Submitting

    def execute_process(self, process_id, data_dict, execution_mode=None, requested_outputs=None,
                        subscriber=None, requested_response="raw"):
        """Submit a job through the WPS service; answer pygeoapi's ``(job id, media type,
        outputs, status, headers)``: the results of a synchronous job that succeeded, the
        exception of one that failed; nothing yet for an asynchronous one."""
        asynchronous = execution_mode == RequestedProcessExecutionMode.respond_async
        try:
            request = wps_request(self.operations[process_id], data_dict, requested_outputs, asynchronous)
            response = self.service.execute(process_id, request, None, protocol=PROTOCOL)
        except NoApplicableCode as error:
            raise processor_error(error) from None
        headers = {"Preference-Applied": "respond-async" if asynchronous else "wait"}
        if asynchronous:
            return response.uuid, JSON, None, JobStatus.accepted, headers
        job = self.store.get(response.uuid)
        if job is not None and job["status"] == SUCCESSFUL:
            return job["job_id"], JSON, results(job["result"]["outputs"]), JobStatus.successful, headers
        message = job["message"] if job else "The job was removed before it ended"
        failure = {"type": "NoApplicableCode", "code": "NoApplicableCode", "description": message,
                   "jobID": response.uuid}
        return response.uuid, JSON, failure, JobStatus.failed, headers

    # Jobs

    def get_jobs(self, status=None, limit=None, offset=None):
        status = getattr(status, "value", status)
        jobs = self.store.jobs(status=status, limit=limit, offset=offset or 0)
        counts = self.store.counts()
        matched = counts.get(status, 0) if status else sum(counts.values())
        return {"jobs": [job_info(job, self.identifiers) for job in jobs], "numberMatched": matched}

    def get_job(self, job_id):
        job = self.store.get(job_id)
        if job is None:
            raise JobNotFoundError(job_id)
        return job_info(job, self.identifiers)

    def get_job_result(self, job_id):
        """A successful job's results; a dismissed job has none (no such job, for pygeoapi's
        results answer: the web adapter answers 404)."""
        job = self.store.get(job_id)
        if job is None or job["status"] != SUCCESSFUL:
            raise JobNotFoundError(job_id)
        return JSON, results(job["result"]["outputs"])

    def delete_job(self, job_id):
        """Dismiss a queued or running job (its worker is stopped, its WPS status document says
        so); remove a job that had ended, with its outputs (the job list no longer holds it)."""
        job = self.store.state(job_id)
        if job is None:
            raise JobNotFoundError(job_id)
        if job["status"] not in FINAL:
            dismiss(job_id, "Dismissed through OGC API - Processes")  # or it ended meanwhile
            return True
        return remove_job(job_id)


def wps_request(operation, data_dict, requested_outputs, asynchronous):
    """The WPS 1.0.0 Execute request standing for an OGC API execute request."""
    request = WPSRequest()
    request.operation, request.version, request.language = "execute", "1.0.0", "en-US"
    request.identifier = operation.identifier
    request.store_execute = request.status = "true" if asynchronous else "false"
    request.lineage, request.raw = False, False
    request.inputs = wps_inputs(operation, data_dict)
    request.outputs = wps_outputs(operation, requested_outputs)
    return request


def processor_error(error):
    """pygeoapi's error for a PyWPS exception: its HTTP status and code, its text naming the
    input at fault (the exception's locator)."""
    text = str(error.description or type(error).__name__)
    if error.locator and error.locator not in text:
        text = f"Input {error.locator}: {text}"
    failure = ProcessorExecuteError(user_msg=text)
    failure.http_status_code = HTTPStatus.SERVICE_UNAVAILABLE if isinstance(error, ServerBusy) else error.code
    failure.ogc_exception_code = type(error).__name__
    return failure


def timestamp(epoch):
    """An epoch time as pygeoapi writes dates; "" for none (pygeoapi sorts jobs by their start
    time, and cannot compare None with text: the web adapter drops empty members)."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime(DATETIME_FORMAT) if epoch else ""


def job_info(job, identifiers):
    """A job as pygeoapi's job metadata; its process named by the binding the store records
    (``wps:module:NAME``), or that key itself for an operation not served here."""
    updated = job["finished"] or job["heartbeat"] or job["started"] or job["created"]
    path = job["process"].split(":", 1)[-1]
    process = identifiers.get(path, job["process"])
    return {
        "type": "process", "identifier": job["job_id"], "process_id": process,
        "status": job["status"], "message": job["message"], "progress": job["progress"],
        "created": timestamp(job["created"]), "started": timestamp(job["started"]),
        "finished": timestamp(job["finished"]), "updated": timestamp(updated), "mimetype": JSON,
    }
