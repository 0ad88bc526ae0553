"""The WSGI application: WPS at ``/wps`` and job outputs at ``/outputs/``.

Development: ``python wsgi.py`` (what ``make run`` does). Production: ``gunicorn wsgi:application``.
Configuration: the packaged ``pywps.cfg``, then the file named by ``$PYWPS_CFG``.
"""

import argparse
import logging
import multiprocessing
import os
import re
import sys
from pathlib import Path
from urllib.parse import urlparse

if not os.environ.get("PYWPS_CFG", "x"):
    del os.environ["PYWPS_CFG"]  # PyWPS crashes on import when it is set but empty

from pywps import Service, configuration  # noqa: E402
from werkzeug.middleware.dispatcher import DispatcherMiddleware  # noqa: E402
from werkzeug.middleware.shared_data import SharedDataMiddleware  # noqa: E402
from werkzeug.wrappers import Response  # noqa: E402

HERE = Path(__file__).resolve().parent
PACKAGED_CFG = HERE / "pywps.cfg"
STATUS_DOCUMENT = re.compile(r"^/([0-9a-f-]{36})\.xml$")


def load_config(cfgfiles=None):
    """Load the packaged config, ``cfgfiles``, then ``$PYWPS_CFG``; make paths absolute."""
    configuration.load_configuration([str(PACKAGED_CFG), *(cfgfiles or [])])
    config = configuration.CONFIG
    for section, option in (("server", "outputpath"), ("server", "workdir"), ("candela", "usermodels")):
        path = HERE / config.get(section, option)
        path.mkdir(parents=True, exist_ok=True)
        config.set(section, option, str(path))
    roots = [r.strip() for r in config.get("server", "allowedinputpaths").split(os.pathsep) if r.strip()]
    config.set("server", "allowedinputpaths", os.pathsep.join(str(HERE / r) for r in roots))
    database = config.get("logging", "database")
    if database.startswith("sqlite:///") and not database.startswith("sqlite:////") and ":memory:" not in database:
        path = HERE / database[len("sqlite:///"):]
        path.parent.mkdir(parents=True, exist_ok=True)
        config.set("logging", "database", f"sqlite:///{path}")
    if ":memory:" in config.get("logging", "database"):
        raise SystemExit("[logging] database must not be :memory: (async jobs break); use a file or PostgreSQL")
    return config


def create_app(cfgfiles=None, processes=None):
    """The whole WSGI application, configured; ``processes`` defaults to all of ours."""
    load_config(cfgfiles)
    _setup_logging()
    # PyWPS runs async jobs in forked processes; spawn/forkserver cannot pickle its objects.
    multiprocessing.set_start_method("fork", force=True)
    if processes is None:
        from processes import processes

    service = Service(processes)
    outputs = configuration.get_config_value("server", "outputpath")
    app = DispatcherMiddleware(not_found, {
        "/wps": service,
        "/outputs": ReapingOutputs(SharedDataMiddleware(not_found, {"/": outputs})),
    })
    return app


class ReapingOutputs:
    """Serves outputs; before a status document goes out, a dead worker's job is marked failed."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        match = STATUS_DOCUMENT.match(environ.get("PATH_INFO", ""))
        if match:
            from processes.jobs import reap_dead_jobs

            try:
                reap_dead_jobs(match.group(1))
            except Exception:  # serving the document matters more than reaping
                logging.getLogger("PYWPS").exception("Reaping job %s failed", match.group(1))
        return self.app(environ, start_response)


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
    args = parser.parse_args(argv)

    if args.command == "cleanup":
        load_config()
        from processes.jobs import cleanup, parse_age

        removed = cleanup(parse_age(args.older_than))
        print(", ".join(f"{count} {what}" for what, count in removed.items()) + " removed")
        return 0

    from werkzeug.serving import run_simple

    app = create_app()
    url = urlparse(configuration.get_config_value("server", "url"))
    host = getattr(args, "host", None) or url.hostname or "127.0.0.1"
    port = getattr(args, "port", None) or url.port or 5000
    run_simple(host, port, app, threaded=True)
    return 0



def __getattr__(name):
    # ``wsgi:application`` is built on first use, so importing this module has no side effects.
    if name == "application":
        globals()["application"] = create_app()
        return globals()["application"]
    raise AttributeError(name)


if __name__ == "__main__":
    sys.exit(main())
