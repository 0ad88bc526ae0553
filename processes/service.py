"""The WPS service over the job store and executor.

PyWPS parses requests and writes responses; jobs do not run the PyWPS way (forked from the
server, queued in its own table, started only when another job ends). An Execute request is
checked here (unknown inputs, too many values, booleans that are not booleans, missing inputs:
each an OGC exception naming the input, before any job exists), then stored as a job in the
:class:`~candela.jobs.JobStore` and run by the :class:`~candela.jobs.executor.Executor` in a
fresh worker process (:mod:`processes.worker`). An asynchronous client gets the accepted
status document at once; a synchronous one waits here for the job's end. Sync and async jobs
share one queue: beyond ``[server] maxprocesses`` waiting jobs, ServerBusy.
"""

import copy
import logging
import os
import shutil
import time

from pywps import Service, configuration
from pywps.exceptions import FileURLNotSupported, InvalidParameterValue, MissingParameterValue, NoApplicableCode, \
    ServerBusy
from pywps.inout.inputs import BoundingBoxInput, ComplexInput, LiteralInput
from pywps.response.capabilities import CapabilitiesResponse
from pywps.response.execute import ExecuteResponse
from pywps.response.status import WPS_STATUS

from candela.jobs import FINAL, QueueFull
from candela.jobs.store import new_job_id

from .job import is_blank
from .jobcontrol import executor_for_config
from .jobfiles import job_folder, remove_work, status_document, upload_folder
from .jobrequests import prepare, save_request
from .pywps_fixes import TEMPLATES
from .registry import process_key, service_url
from .statusdoc import write_status_document
from .wpsrequest import check_literal, complex_value
from .wpsresponse import escape_json_outputs, lineage_inputs, service_instance

LOGGER = logging.getLogger("PYWPS")

#: Seconds between two looks at the store while a synchronous client waits.
SYNC_POLL = 0.1

class JobResponse(ExecuteResponse):
    """PyWPS's Execute response, with status documents written whole (see :mod:`.statusdoc`),
    progress recorded in the job store, and the corrected templates."""

    job_store = attempt = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.template_env.loader = TEMPLATES

    def _update_status(self, status, message, status_percentage, clean=True):
        if self.job_store is not None and status == WPS_STATUS.STARTED and \
                not self.job_store.progress(self.uuid, status_percentage or 0, message, self.attempt):
            # The job was ended elsewhere (dismissed, failed by an executor): what was said stands.
            LOGGER.warning("Job %s was ended elsewhere; its worker stops", self.uuid)
            os._exit(3)
        self.message, self.status, self.status_percentage = message, status, status_percentage
        self._update_status_doc()
        if self.store_status_file:
            write_status_document(self.process.status_location, self.doc)
        if clean and status in (WPS_STATUS.SUCCEEDED, WPS_STATUS.FAILED):
            self.process.clean()

    @property
    def json(self):
        """PyWPS's data for the response document, with only the outputs the client asked for
        (PyWPS lists all), a working ``serviceInstance``, JSON outputs escaped, and lineage
        echoing the inputs as sent (see :mod:`.wpsresponse`)."""
        requested = set(self.wps_request.outputs or ())
        every = self.outputs
        if requested and not self.wps_request.raw:
            self.outputs = {k: v for k, v in every.items() if k in requested}
        try:
            data = super().json
        finally:
            self.outputs = every
        data["service_instance"] = service_instance(service_url(self.process.binding))
        escape_json_outputs(data.get("outputs"))
        if data.get("lineage"):
            data["input_definitions"] = lineage_inputs(self.process, getattr(self.wps_request, "sent_inputs", {}))
        return data


class ServiceCapabilities(CapabilitiesResponse):
    """PyWPS's capabilities, advertising the address of the service that answers them (PyWPS
    knows one service, at ``[server] url``; the QGIS profile is another)."""

    service_url = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.template_env.loader = TEMPLATES

    @property
    def json(self):
        data = super().json
        data["serviceurl"] = self.service_url or data["serviceurl"]
        return data


class CandelaService(Service):
    """PyWPS's Service with our job store and executor behind Execute; ``url``: its address
    (default ``[server] url``)."""

    def __init__(self, processes, store=None, executor=None, url=None):
        super().__init__(processes)
        if store is None:
            store, executor = executor_for_config()
        self.store = store
        self.executor = executor
        self.url = url

    def get_capabilities(self, wps_request, uuid):
        response = ServiceCapabilities(wps_request, uuid, version=wps_request.version, processes=self.processes)
        response.service_url = self.url
        return response

    # Execute

    def execute(self, identifier, wps_request, uuid, protocol="wps"):
        """Check the request, store it as a job, and answer accepted (async) or its result.
        ``protocol``: what the job is recorded as submitted through (OGC API requests come
        here too, translated, see :mod:`processes.ogcapi_manager`)."""
        if not identifier:
            raise MissingParameterValue("Execute needs the identifier of a process", "identifier")
        if identifier not in self.processes:
            raise InvalidParameterValue(f"Unknown process {identifier!r}", "identifier")
        max_queued = int(configuration.get_config_value("server", "maxprocesses"))
        job_id = new_job_id()
        folder = job_folder(job_id)
        asynchronous = wps_request.store_execute == "true" and wps_request.status == "true"
        try:
            self.store.check_room(max_queued)  # before anything is written (submit checks again)
            # Inputs are checked here with a scratch work folder (PyWPS links file:// inputs
            # into it); the worker checks them again into its own.
            process = prepare(self.processes[identifier], job_id, folder, "check")
            raw_inputs = copy.deepcopy(wps_request.inputs)
            self.parse_inputs(process, wps_request)
            process.setup_outputs_from_wps_request(wps_request)
            shutil.rmtree(folder / "check", ignore_errors=True)
            response = JobResponse(wps_request, uuid=job_id, process=process)
            response.store_status_file = asynchronous
            if asynchronous:
                # The document must exist before the client learns its address.
                response._update_status(WPS_STATUS.ACCEPTED, "Accepted, waiting for a worker", 0, clean=False)
            self.store.submit(process_key(process), save_request(wps_request, raw_inputs, upload_folder(job_id)),
                              mode="async" if asynchronous else "sync", protocol=protocol, max_queued=max_queued,
                              job_id=job_id)
        except BaseException as error:
            remove_work(job_id)
            status_document(job_id).unlink(missing_ok=True)
            if isinstance(error, QueueFull):
                raise ServerBusy(f"The job queue is full ({error}). Please try later.") from None
            raise
        if self.executor is not None:
            self.executor.wake()
        if asynchronous:
            return response
        return self._wait(job_id, response)

    def _wait(self, job_id, response):
        """Wait for a synchronous job's end; give its response what the worker produced."""
        while (state := self.store.state(job_id)) and state["status"] not in FINAL:
            time.sleep(SYNC_POLL)
        job = self.store.get(job_id)
        if job is None:  # removed by an operator's cleanup
            response._update_status(WPS_STATUS.FAILED, "The job was removed before it ended", 100, clean=False)
            return response
        result = job["result"]
        if not result:  # the executor ended it: the worker could not report
            response._update_status(WPS_STATUS.FAILED, job["message"], 100, clean=False)
            return response
        for name, value in result["response"].items():
            setattr(response, name, value)
        for identifier, (file, data) in result["raw_outputs"].items():
            if file:
                response.outputs[identifier].file = file
            else:
                response.outputs[identifier].data = data
        return response

    # Inputs

    def parse_inputs(self, process, wps_request):
        """Replace the request's input dicts by checked PyWPS inputs, or raise an OGC exception
        naming the input at fault. The dicts as sent stay in ``wps_request.sent_inputs``."""
        declared = {inpt.identifier: inpt for inpt in process.inputs}
        for identifier in wps_request.inputs:
            if identifier not in declared:
                raise InvalidParameterValue(
                    f"Unknown input {identifier!r}; {process.identifier} takes {', '.join(declared)}", identifier)
        parsed = {}
        for identifier, inpt in declared.items():
            given = wps_request.inputs.get(identifier) or []
            if isinstance(inpt, LiteralInput):
                given = [value for value in given if not is_blank(value.get("data"))]
                for value in given:
                    check_literal(inpt, value)
            if len(given) > inpt.max_occurs:
                raise InvalidParameterValue(
                    f"Input {identifier}: at most {inpt.max_occurs} values, {len(given)} given", identifier)
            if not given:
                if inpt.min_occurs > 0:
                    raise MissingParameterValue(f"Input {identifier} is required", identifier)
                if inpt._default is not None:
                    if isinstance(inpt, ComplexInput) and not inpt.data_set:
                        inpt._set_default_value()
                    parsed[identifier] = [inpt.clone()]
                continue
            try:
                if isinstance(inpt, ComplexInput):
                    given = [complex_value(identifier, value) for value in given]
                    parsed[identifier] = self.create_complex_inputs(inpt, given)
                elif isinstance(inpt, LiteralInput):
                    parsed[identifier] = self.create_literal_inputs(inpt, given)
                elif isinstance(inpt, BoundingBoxInput):
                    parsed[identifier] = self.create_bbox_inputs(inpt, given)
            except FileURLNotSupported as error:
                raise FileURLNotSupported(f"Input {identifier}: {error.description}", identifier) from None
            except NoApplicableCode as error:  # PyWPS's own exceptions name no input
                error.locator = error.locator or identifier
                raise
        for identifier, alternatives in process.required_inputs().items():
            if not any(parsed.get(name) for name in alternatives):
                raise MissingParameterValue(
                    f"Input {identifier} is required: give {' or '.join(alternatives)}", identifier)
        wps_request.sent_inputs, wps_request.inputs = wps_request.inputs, parsed
