"""A fake OpenStack for tests: a minimal Keystone v3 and Nova, enough for openstacksdk's
compute proxy to create, list, show and delete servers.

One ``http.server`` thread on 127.0.0.1 serves both: Keystone under ``/identity`` and Nova
under ``/compute``, the token's catalog pointing the SDK back at this server. Every request is
recorded (``requests``), and the ones it does not know are answered 404 and kept in
``unknown``, so a test fails with what the SDK asked for rather than hanging.
"""

import http.server
import json
import re
import threading
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

TOKEN = "fake-token"
#: The newest compute microversion the fake says it speaks.
MAX_MICROVERSION = "2.96"


class FakeOpenStack:
    """Serve the fake on a free port (``start``/``stop``, or as a context manager)."""

    def __init__(self):
        self.servers = {}  # id -> the server as Nova shows it
        self.requests = []  # (method, path)
        self.unknown = []
        self.lock = threading.Lock()
        self.fail_create = None  # a message: the next POST /servers fails with it (HTTP 403)
        self.httpd = None

    # Lifecycle

    def start(self):
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's session expects

            def do_GET(self):
                fake._handle(self, "GET")

            def do_POST(self):
                fake._handle(self, "POST")

            def do_DELETE(self):
                fake._handle(self, "DELETE")

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, kwargs=dict(poll_interval=0.05), daemon=True).start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def auth_url(self):
        return f"{self.url}/identity/v3"

    @property
    def compute_url(self):
        return f"{self.url}/compute/v2.1"

    def connection(self):
        """A real ``openstack.connection.Connection`` to this fake."""
        import openstack.connection
        return openstack.connection.Connection(
            auth_url=self.auth_url, username="demo", password="secret", project_name="demo",
            user_domain_name="Default", project_domain_name="Default", region_name="RegionOne",
            compute_api_version="2")

    # Requests

    def _handle(self, handler, method):
        parts = urlsplit(handler.path)
        path, query = parts.path.rstrip("/"), parse_qs(parts.query)
        length = int(handler.headers.get("Content-Length") or 0)
        body = json.loads(handler.rfile.read(length)) if length else None
        with self.lock:
            self.requests.append((method, handler.path))
            answer = self._route(method, path, query, body, handler.headers)
            if answer is None:
                self.unknown.append((method, handler.path))
                answer = (404, {"itemNotFound": {"code": 404, "message": f"fake: no {method} {path}"}}, {})
        status, document, headers = answer
        data = b"" if document is None else json.dumps(document).encode()
        handler.send_response(status)
        handler.send_header("Content-Length", str(len(data)))
        if data:
            handler.send_header("Content-Type", "application/json")
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _route(self, method, path, query, body, headers):
        if path == "/identity/v3" and method == "GET":
            return 200, {"version": self._identity_version()}, {}
        if path == "/identity" and method == "GET":
            return 300, {"versions": {"values": [self._identity_version()]}}, {}
        if path == "/identity/v3/auth/tokens" and method == "POST":
            return 201, {"token": self._token(body)}, {"X-Subject-Token": TOKEN}
        if not path.startswith("/compute"):
            return None
        if path == "/compute" and method == "GET":
            return 200, {"versions": [self._compute_version()]}, {}
        if path == "/compute/v2.1" and method == "GET":
            return 200, {"version": self._compute_version()}, {}
        if headers.get("X-Auth-Token") != TOKEN:
            return 401, {"error": {"code": 401, "message": "The request you have made requires authentication."}}, {}
        if path == "/compute/v2.1/servers/detail" and method == "GET":
            return 200, {"servers": self._listed(query)}, {}
        if path == "/compute/v2.1/servers" and method == "POST":
            return self._create(body["server"])
        match = re.fullmatch(r"/compute/v2\.1/servers/([^/]+)", path)
        if match:
            server = self.servers.get(match.group(1))
            if server is None:
                return 404, {"itemNotFound": {"code": 404, "message": f"Instance {match.group(1)} could not be found."}}, {}
            if method == "GET":
                return 200, {"server": server}, {}
            if method == "DELETE":
                del self.servers[server["id"]]
                return 204, None, {}
        return None

    # Keystone

    def _identity_version(self):
        return {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
                "links": [{"rel": "self", "href": self.auth_url + "/"}],
                "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]}

    def _token(self, body):
        now = datetime.now(timezone.utc)
        stamp = lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.000000Z")  # noqa: E731
        user = body["auth"]["identity"]["password"]["user"]
        return {
            "methods": ["password"], "issued_at": stamp(now), "expires_at": stamp(now + timedelta(hours=1)),
            "user": {"id": "u1", "name": user["name"], "domain": {"id": "default", "name": "Default"}},
            "project": {"id": "p1", "name": "demo", "domain": {"id": "default", "name": "Default"}},
            "roles": [{"id": "r1", "name": "member"}],
            "catalog": [{"id": "c1", "type": "compute", "name": "nova", "endpoints": [
                {"id": "e1", "interface": "public", "region": "RegionOne", "region_id": "RegionOne",
                 "url": self.compute_url}]}],
        }

    # Nova

    def _compute_version(self):
        return {"id": "v2.1", "status": "CURRENT", "version": MAX_MICROVERSION, "min_version": "2.1",
                "updated": "2013-07-23T11:33:21Z", "links": [{"rel": "self", "href": self.compute_url + "/"}],
                "media-types": [{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}]}

    def _listed(self, query):
        servers = list(self.servers.values())
        if "name" in query:  # Nova filters names by regular expression
            pattern = re.compile(query["name"][0])
            servers = [s for s in servers if pattern.search(s["name"])]
        return servers

    def _create(self, asked):
        if self.fail_create:
            message, self.fail_create = self.fail_create, None
            return 403, {"forbidden": {"code": 403, "message": message}}, {}
        server_id = str(uuid.uuid4())
        # Created ACTIVE at once: the fake has no scheduler.
        self.servers[server_id] = {
            "id": server_id, "name": asked["name"], "status": "ACTIVE",
            "image": {"id": asked.get("imageRef")}, "flavor": {"id": asked.get("flavorRef")},
            "metadata": asked.get("metadata", {}), "networks_asked": asked.get("networks"),
            "addresses": {}, "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "links": [{"rel": "self", "href": f"{self.compute_url}/servers/{server_id}"}],
            "tenant_id": "p1", "user_id": "u1",
        }
        return 202, {"server": {"id": server_id, "adminPass": "x",
                                "links": self.servers[server_id]["links"]}}, {}

    # For tests

    def add_server(self, name, status="ACTIVE"):
        """A server made outside the code under test (another project's, a failed one); its id."""
        with self.lock:
            _, document, _ = self._create({"name": name, "imageRef": "other", "flavorRef": "other"})
            self.servers[document["server"]["id"]]["status"] = status
        return document["server"]["id"]

    def named(self, prefix):
        return sorted(s["name"] for s in self.servers.values() if s["name"].startswith(prefix))
