"""A test server: ours plus the misbehaving test processes, configured by $PYWPS_CFG.

``python tests/helpers/serve.py`` serves like ``python wsgi.py`` (same application, same
request handler), at the host and port of the configured ``[server] url``;
``--without-ogcapi`` answers 404 under ``/ogcapi``, as a server offering WPS alone.
"""

import sys
from pathlib import Path
from urllib.parse import urlparse

TESTS = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(TESTS), str(TESTS.parent)]

import wsgi  # noqa: E402
from helpers.processes import COUNTER, MISBEHAVER, SLEEPER  # noqa: E402
from processes.registry import OPERATIONS  # noqa: E402
from pywps import configuration  # noqa: E402
from werkzeug.serving import run_simple  # noqa: E402


def without(prefix, app):
    """``app`` with nothing under ``prefix``."""
    def serve(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == prefix or path.startswith(prefix + "/"):
            return wsgi.not_found(environ, start_response)
        return app(environ, start_response)
    return serve


if __name__ == "__main__":
    app = wsgi.create_app(operations=[*OPERATIONS, SLEEPER, MISBEHAVER, COUNTER])
    if "--without-ogcapi" in sys.argv[1:]:
        app = without("/ogcapi", app)
    url = urlparse(configuration.get_config_value("server", "url"))
    run_simple(url.hostname, url.port, app, threaded=True, request_handler=wsgi.OWSRequestHandler)
