"""The WSGI application: WPS at ``/wps``, its QGIS profile at ``/qgis/wps``, OGC API - Processes at
``/ogcapi``, job outputs at ``/outputs/``, the search page over the results at ``/search/`` and its
SPARQL endpoint at ``/search/sparql``.

Development: ``python wsgi.py`` (what ``make run`` does). Production: ``gunicorn wsgi:application``.
Installed: the ``candela-wps`` command (``main``). Configuration: the packaged ``processes/defaults.cfg``,
a checkout's ``pywps.cfg``, then the file named by ``$PYWPS_CFG`` (see :mod:`processes.config`).
"""

import argparse
import io
import logging
import signal
import sys
from urllib.parse import urlparse

from processes import config  # first: it tidies $PYWPS_CFG before PyWPS reads it
from processes.limits import max_request_bytes
from pywps import configuration
from pywps.exceptions import FileSizeExceeded, NoApplicableCode
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.middleware.shared_data import SharedDataMiddleware
from werkzeug.serving import WSGIRequestHandler
from werkzeug.wrappers import Response

#: Longest query string answered; longer ones get an OWS exception (HTTP 414).
MAX_QUERY = 8000


def create_app(cfgfiles=None, operations=None):
    """The whole WSGI application, configured; ``operations`` defaults to all of ours."""
    config.load_config(cfgfiles)
    _setup_logging()
    from processes import registry
    from processes.ogcapi_web import OgcApi
    from processes.service import CandelaService
    from processes.searchweb import SearchPage
    from processes.sparql import SparqlEndpoint

    operations = registry.OPERATIONS if operations is None else operations
    wps = CandelaService(registry.processes("wps", operations))
    qgis = CandelaService(registry.processes("qgis", operations), wps.store, wps.executor,
                          url=registry.service_url("qgis"))
    outputs = configuration.get_config_value("server", "outputpath")
    return RunningJobs(wps.executor, DispatcherMiddleware(not_found, {
        "/wps": BoundedRequests(wps),
        "/qgis/wps": BoundedRequests(qgis),
        "/ogcapi": OgcApi(operations),  # over the same job store and executor
        "/outputs": SharedDataMiddleware(not_found, {"/": outputs}),
        "/search/sparql": SparqlEndpoint(),  # the results store as a knowledge graph
        "/search": SearchPage(),
    }))


class RunningJobs:
    """Runs the executor in this process from the start, and again after a fork (a gunicorn
    worker forked from a preloading master): queued jobs start and dead workers are noticed
    without waiting for a WPS request."""

    def __init__(self, executor, app):
        self.executor = executor
        self.app = app
        executor.ensure_started()

    def __call__(self, environ, start_response):
        self.executor.ensure_started()
        return self.app(environ, start_response)


class BoundedRequests:
    """Requests PyWPS cannot take as they come, answered as OWS exceptions: a body without a
    Content-Length (chunked) is read up to ``[server] maxrequestsize`` and given one; an
    over-long query string is refused (PyWPS would answer HTTP 500 and HTML)."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if len(environ.get("QUERY_STRING", "")) > MAX_QUERY:
            error = NoApplicableCode(f"The request URL is longer than the {MAX_QUERY} characters allowed; "
                                     "send the request as an XML POST instead", code=414)
            return error(environ, start_response)
        if environ.get("REQUEST_METHOD") == "POST" and not environ.get("CONTENT_LENGTH"):
            limit = max_request_bytes()
            body = environ["wsgi.input"].read(limit + 1) if environ.get("wsgi.input_terminated") else b""
            if len(body) > limit:
                error = FileSizeExceeded(f"The request is larger than the {limit // 1024**2} MB allowed",
                                         locator="request")
                return error(environ, start_response)
            environ = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
            environ.pop("HTTP_TRANSFER_ENCODING", None)  # else werkzeug still sees no length
        return self.app(environ, start_response)


class OWSRequestHandler(WSGIRequestHandler):
    """The development server's own errors (e.g. 414 for a request line over 64 KiB) as OWS
    exception reports instead of HTML."""

    error_content_type = "text/xml; charset=utf-8"
    error_message_format = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ows:ExceptionReport xmlns:ows="http://www.opengis.net/ows/1.1" version="1.0.0">'
        '<ows:Exception exceptionCode="NoApplicableCode"><ows:ExceptionText>HTTP %(code)d: %(message)s'
        '</ows:ExceptionText></ows:Exception></ows:ExceptionReport>\n'
    )


def not_found(environ, start_response):
    return Response("Not found. The WPS endpoint is /wps\n", status=404, mimetype="text/plain")(
        environ, start_response)


def _setup_logging():
    level = configuration.get_config_value("logging", "level") or "INFO"
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def main(argv=None):
    parser = argparse.ArgumentParser(description="CANDELA WPS server")
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="run the development server (the default)")
    serve.add_argument("--host", help="default: the host of [server] url")
    serve.add_argument("--port", type=int, help="default: the port of [server] url")
    clean = commands.add_parser("cleanup", help="remove jobs, outputs and status files older than an age")
    clean.add_argument("--older-than", required=True, help="age such as 12h or 7d")
    dismiss = commands.add_parser("dismiss", help="cancel a queued or running job")
    dismiss.add_argument("job_id")
    monitor = commands.add_parser("monitor", help="the autoscaling monitor: decide and set the workers wanted")
    monitor.add_argument("--once", action="store_true", help="one step, its decision printed as JSON")
    monitor.add_argument("--port", type=int, help="of /metrics on 127.0.0.1; default: [monitor] port")
    args = parser.parse_args(argv)

    if args.command == "cleanup":
        config.load_config()
        from processes.cleanup import cleanup

        removed = cleanup(config.parse_age(args.older_than))
        print(", ".join(f"{count} {what}" for what, count in removed.items()) + " removed")
        return 0
    if args.command == "dismiss":
        config.load_config()
        from processes.jobcontrol import dismiss

        print(dismiss(args.job_id))
        return 0
    if args.command == "monitor":
        return run_monitor(args.once, args.port)

    from werkzeug.serving import run_simple

    app = create_app()
    url = urlparse(configuration.get_config_value("server", "url"))
    host = getattr(args, "host", None) or url.hostname or "127.0.0.1"
    port = getattr(args, "port", None) or url.port or 5000
    run_simple(host, port, app, threaded=True, request_handler=OWSRequestHandler)
    return 0


def run_monitor(once=False, port=None):
    """``candela-wps monitor``: the monitor of the configured job store and ``[monitor]`` action."""
    config.load_config()
    _setup_logging()
    from candela.scaling.actions import scaler_for
    from candela.scaling.monitor import Monitor, decision_json, policy_from
    from candela.scaling.readings import LazyStore

    section = config.monitor_section()
    # Opened at each step until it opens: an unreachable database makes the monitor hold, not exit.
    store = LazyStore(configuration.get_config_value("logging", "database"))
    monitor = Monitor(policy_from(section), scaler_for(section, store), store, section.get("state"),
                      dask_address=section.get("dask_scheduler", "").strip())
    if once:
        print(decision_json(*monitor.step()))
        return 0
    server = monitor.serve(port or int(section.get("port", "5001")))
    # SIGTERM (a pod or service stopping) ends the loop between steps; the state is saved after each.
    signal.signal(signal.SIGTERM, lambda signum, frame: monitor.stop())
    try:
        monitor.run(float(section.get("interval", "30")))
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
    return 0


def __getattr__(name):
    # ``wsgi:application`` is built on first use, so importing this module has no side effects.
    if name == "application":
        globals()["application"] = create_app()
        return globals()["application"]
    raise AttributeError(name)


if __name__ == "__main__":
    sys.exit(main())
