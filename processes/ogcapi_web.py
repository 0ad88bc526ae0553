"""OGC API - Processes - Part 1: Core 1.0, answered by pygeoapi 0.21 under ``/ogcapi``.

pygeoapi's own Flask application reads one global configuration file when it is imported, so
it is not used: pygeoapi's ``API`` is built here from a configuration made in code
(:func:`pygeoapi_config`: our ``[server] url`` and ``[metadata:main]``, one process resource
per declaration, our manager by its Python path), and :class:`OgcApi`, a small WSGI
application, calls pygeoapi's API functions as its Flask routes do. Processes are described
from the declarations (:mod:`processes.ogcapi`); jobs go through the manager to the job store
(:mod:`processes.ogcapi_manager`).

Corrections to what pygeoapi 0.21 answers, each for a measured defect (see the tests):

- ``/conformance`` is answered here: pygeoapi's extends its module-level list of classes by
  five for every process resource on every request (a leak), and claims ``callback``, which
  is not offered; the classes listed are those served.
- Process descriptions: pygeoapi replaces ``jobControlOptions`` and ``outputTransmission``
  by its own (without dismiss, and ``value`` only though rasters go by reference); ours are
  put back.
- Jobs: members without a value (``finished`` of a running job, ``started`` of a queued one)
  are dropped: pygeoapi writes them as null, which the statusInfo schema forbids.
- An asynchronous execution answers 201 with the job's status (pygeoapi: ``{}`` when the
  request asks for a results document); a dismissal's status has its ``type`` (required).
- A job with no results (dismissed) answers 404 (pygeoapi: 500).
- JSON is the format when a request names none (pygeoapi answers a job's results in HTML then).
- The landing page and the OpenAPI document name only what is served (no collections, no
  tiling schemes). An execution's answer is documented as the standard's (pygeoapi documents
  the first output's own schema, which OpenAPI 3.0 refuses for a file and which is not what
  is answered: a results document).
"""

import json
import logging
from http import HTTPStatus

from pygeoapi import api as core_api
from pygeoapi.api import API, APIRequest
from pygeoapi.api import processes as processes_api
from pygeoapi.openapi import OPENAPI_YAML, get_oas
from pygeoapi.process.base import JobNotFoundError
from pygeoapi.util import render_j2_template
from pywps import configuration
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from . import config, registry
from .limits import max_request_bytes
from .ogcapi import JOB_CONTROL, TRANSMISSION

LOGGER = logging.getLogger("PYWPS")

PROCESSES_CONFORMANCE = "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/"
COMMON_CONFORMANCE = "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/"
CONFORMANCE = [PROCESSES_CONFORMANCE + c for c in
               ("core", "ogc-process-description", "json", "html", "oas30", "job-list", "dismiss")] + \
              [COMMON_CONFORMANCE + c for c in ("core", "landing-page", "json", "html", "oas30")]
#: Paths of the OpenAPI document that are served (pygeoapi documents collections and tiles too).
SERVED = ("/openapi", "/conformance", "/processes", "/jobs")
#: Link relations of pygeoapi's landing page to what is not served here.
NOT_SERVED = ("data", "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes")
MANAGER = "processes.ogcapi_manager.CandelaManager"
PROCESSOR = "processes.ogcapi.OperationProcessor"


def jobs_listed():
    """Whether ``/jobs`` lists every job (``[candela] listjobs``, default true). Without
    authentication a listing shows every client's jobs (and so the addresses of their results)
    to anyone: an operator serving users who must not see each other's jobs turns it off."""
    return config.option("listjobs", "true").lower() not in ("false", "0", "no")


def ogcapi_url():
    """The public address of OGC API - Processes: beside WPS (``.../wps`` → ``.../ogcapi``)."""
    return registry.sibling_url("ogcapi")


def pygeoapi_config(operations, url):
    """pygeoapi's configuration for ``operations``, served at ``url``."""
    def meta(key):
        return configuration.get_config_value("metadata:main", key) or ""

    contact = {key: meta(f"contact_{key}") for key in ("name", "position", "email", "url", "role")}
    return {
        "server": {
            "url": url, "mimetype": "application/json; charset=UTF-8", "encoding": "utf-8",
            "languages": [configuration.get_config_value("server", "language") or "en-US"],
            "pretty_print": False, "limits": {"default_items": 20, "max_items": 100},
            "manager": {"name": MANAGER, "connection": None, "output_dir": None},
        },
        "logging": {"level": configuration.get_config_value("logging", "level") or "INFO"},
        "metadata": {
            "identification": {
                "title": meta("identification_title"), "description": meta("identification_abstract"),
                "keywords": [k.strip() for k in meta("identification_keywords").split(",") if k.strip()],
                "keywords_type": "theme", "terms_of_service": "", "url": meta("provider_url"),
            },
            "license": {"name": meta("identification_accessconstraints"), "url": ""},
            "provider": {"name": meta("provider_name"), "url": meta("provider_url")},
            "contact": contact,
        },
        "resources": {
            operation.identifier: {"type": "process", "processor": {
                "name": PROCESSOR, "operation": registry.operation_path(operation)}}
            for operation in operations
        },
    }


class OgcApi:
    """The WSGI application of OGC API - Processes (mounted at ``/ogcapi``)."""

    def __init__(self, operations):
        config = pygeoapi_config(operations, ogcapi_url())
        self.api = API(config, openapi_document(config))
        # pygeoapi 0.21 warns of an "unknown locale" for every key of every JSON schema of a
        # process description, and of every job list asked without an offset: noise.
        for name in ("pygeoapi.l10n", "pygeoapi.api.processes"):
            logging.getLogger(name).setLevel(logging.ERROR)
        self.routes = Map([
            Rule("/", endpoint=self.landing_page),
            Rule("/conformance", endpoint=self.conformance),
            Rule("/api", endpoint=self.openapi),
            Rule("/openapi", endpoint=self.openapi),
            Rule("/processes", endpoint=self.processes),
            Rule("/processes/<process_id>", endpoint=self.processes),
            Rule("/processes/<process_id>/execution", endpoint=self.execute, methods=["POST"]),
            Rule("/jobs", endpoint=self.jobs),
            Rule("/jobs/<job_id>", endpoint=self.jobs, methods=["GET", "DELETE"]),
            Rule("/jobs/<job_id>/results", endpoint=self.results),
        ], strict_slashes=False)

    def __call__(self, environ, start_response):
        request = Request(environ)
        if APIRequest(request, self.api.locales).format is None:
            query = "&".join(q for q in (request.query_string.decode("latin-1"), "f=json") if q)
            request = Request({**environ, "QUERY_STRING": query})
        request.max_content_length = max_request_bytes()
        try:
            endpoint, arguments = self.routes.bind_to_environ(environ).match()
            headers, status, content = endpoint(request, **arguments)
        except HTTPException as error:
            headers, status, content = {}, error.code, exception(error.name, error.description)
        except JobNotFoundError:
            headers, status, content = {}, HTTPStatus.NOT_FOUND, exception("NoSuchJob", "No such job")
        except Exception:
            LOGGER.exception("OGC API request %s %s failed", request.method, request.path)
            headers, status, content = {}, HTTPStatus.INTERNAL_SERVER_ERROR, exception(
                "NoApplicableCode", "Internal error; the server log has the details")
        response = Response(content, status=int(status), headers=headers)
        if not headers.get("Content-Type"):
            response.content_type = "application/json"
        return response(environ, start_response)

    def call(self, function, request, *arguments):
        """``(headers, status, content)`` of a pygeoapi API function, as pygeoapi's Flask
        routes call it (a werkzeug request is what its Flask adapter reads)."""
        api_request = APIRequest.from_flask(request, self.api.locales)
        if not api_request.is_valid():
            return self.api.get_format_exception(api_request)
        return function(self.api, api_request, *arguments)

    # Endpoints

    def landing_page(self, request):
        return edit_json(self.call(core_api.landing_page, request), without_links_to_elsewhere)

    def conformance(self, request):
        """The conformance classes served (job-list only while jobs are listed)."""
        api_request = APIRequest.from_flask(request, self.api.locales)
        if not api_request.is_valid():
            return self.api.get_format_exception(api_request)
        headers = api_request.get_response_headers(**self.api.api_headers)
        listed = jobs_listed()
        conformance = {"conformsTo": [c for c in CONFORMANCE if listed or not c.endswith("/job-list")]}
        if api_request.format == "html":
            return headers, HTTPStatus.OK, render_j2_template(
                self.api.tpl_config, self.api.config["server"]["templates"], "conformance.html", conformance,
                api_request.locale)
        return headers, HTTPStatus.OK, json.dumps(conformance)

    def openapi(self, request):
        return self.call(core_api.openapi_, request)

    def processes(self, request, process_id=None):
        return edit_json(self.call(processes_api.describe_processes, request, process_id), with_job_control)

    def execute(self, request, process_id):
        headers, status, content = self.call(processes_api.execute_process, request, process_id)
        if status == HTTPStatus.CREATED:  # the body is the job's status
            job_id = headers["Location"].rsplit("/", 1)[1]
            content = self.jobs(request, job_id)[2]
            headers["Content-Type"] = "application/json"
        return headers, status, content

    def jobs(self, request, job_id=None):
        if job_id is None and not jobs_listed():
            raise NotFound("This server does not list jobs ([candela] listjobs = false): a job is reached at the "
                           "address its submission answered")
        if request.method == "DELETE":
            headers, status, content = self.call(processes_api.delete_job, request, job_id)
            return edit_json(({**headers, "Content-Type": "application/json"}, status, content), with_type)
        return edit_json(self.call(processes_api.get_jobs, request, job_id), without_empty_members)

    def results(self, request, job_id):
        headers, status, content = self.call(processes_api.get_job_result, request, job_id)
        if status == HTTPStatus.BAD_REQUEST:  # a failed job: say why (pygeoapi: "job failed")
            job = self.api.manager.get_job(job_id)
            content = exception("JobFailed", f"The job failed: {job['message']}")
        return headers, status, content


def openapi_document(config):
    """pygeoapi's OpenAPI document of ``config``, of what is served."""
    document = get_oas(config)
    document["paths"] = {path: item for path, item in document["paths"].items()
                         if path == "/" or path.startswith(SERVED)}
    for path, item in document["paths"].items():
        if path.endswith("/execution"):
            item["post"]["responses"]["200"] = {"$ref": f"{OPENAPI_YAML['oapip']}/responses/ExecuteSync.yaml"}
    return document


def exception(code, description):
    return json.dumps({"type": code, "code": code, "description": description})


def edit_json(answer, edit):
    """pygeoapi's ``answer`` with its JSON content changed by ``edit`` (HTML stays)."""
    headers, status, content = answer
    if status != HTTPStatus.OK or not str(headers.get("Content-Type", "")).startswith("application/json"):
        return answer
    document = json.loads(content)
    edit(document)
    return headers, status, json.dumps(document)


def without_links_to_elsewhere(landing):
    landing["links"] = [link for link in landing["links"] if link.get("rel") not in NOT_SERVED]


def with_job_control(document):
    for process in document.get("processes", [document]):
        process["jobControlOptions"] = list(JOB_CONTROL)
        process["outputTransmission"] = list(TRANSMISSION)


def with_type(status_info):
    status_info["type"] = "process"


def without_empty_members(document):
    for job in document.get("jobs", [document]):
        for key in [key for key, value in job.items() if value is None or value == ""]:
            del job[key]
