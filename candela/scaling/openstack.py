"""The OpenStack scaler: the workers are Nova servers, created and deleted through openstacksdk.

A worker is a server whose name starts with ``name_prefix`` (each is also tagged with the
metadata ``candela-prefix``); its name is its host name in the job store, the name CANDELA's
executor claims jobs under (``socket.gethostname()`` on a server booted from the worker image:
cloud-init sets it from the server name). Where the cloud names hosts otherwise, set the
workers' ``[candela] host`` to their server names, or override :meth:`OpenStackScaler.host_of`.

Removing a worker never kills a job: its host is first **drained** in the job store (it claims
no new job, :meth:`candela.jobs.store.JobStore.drain`), and the server is deleted only once no
job runs there. A node still busy when ``drain_timeout`` has passed is *left draining*, not
un-drained: it is not a worker any more (:meth:`current` does not count it, new servers replace
it when the load grows) and each later :meth:`apply` deletes it as soon as its jobs have ended.
Un-draining it instead would keep a node the decision wanted gone and retry forever.

:meth:`app` serves CANDELA's node endpoints beside the monitor's ``/metrics``: ``GET /nodes``,
``POST /nodes`` (one more node) and ``DELETE /nodes/{id}`` (drain, then delete; 202 while its
jobs run, the monitor's next rounds finish the job).
"""

import json
import logging
import re
import threading
import time
import uuid

import openstack
from openstack import exceptions as os_exceptions
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from candela.scaling.actions import Scaler

LOG = logging.getLogger("candela.monitor")

#: Server statuses that are not (or no longer) a worker.
GONE = ("DELETED", "SOFT_DELETED", "SHELVED_OFFLOADED")
#: The metadata key every server created here carries: its prefix.
TAG = "candela-prefix"


class OpenStackScaler(Scaler):
    """Keeps ``decision.workers`` servers (image ``image``, flavor ``flavor``) that take jobs."""

    name = "openstack"

    def __init__(self, connection, image, flavor, network=None, name_prefix="candela-worker", store=None,
                 drain_timeout=60.0, poll=2.0, clock=time.monotonic, sleep=time.sleep):
        """``image``, ``flavor`` and ``network`` are ids (names are not looked up); no
        ``network``: Nova's automatic allocation. Without a ``store`` nothing is ever deleted:
        the scaler cannot see the jobs a node runs. ``drain_timeout``: seconds :meth:`apply`
        waits for drained nodes to become idle (it blocks the monitor's round meanwhile)."""
        if not name_prefix:
            raise ValueError("an empty name prefix would claim every server of the project")
        self.conn = connection
        self.image, self.flavor, self.network = image, flavor, network
        self.prefix = name_prefix
        self.store = store
        self.drain_timeout, self.poll = float(drain_timeout), float(poll)
        self.clock, self.sleep = clock, sleep
        # The monitor's rounds and its HTTP endpoints may run in different threads: one change at
        # a time, so two of them never create for the same shortfall.
        self.lock = threading.RLock()

    @classmethod
    def from_config(cls, section, store=None):
        """From the options ``cloud`` (a clouds.yaml entry), ``image``, ``flavor``, ``network``,
        ``prefix`` and ``drain_timeout``, each also read as ``openstack_<option>`` (so they
        can sit in a shared ``[monitor]`` section)."""
        def option(key, default=""):
            value = section.get(f"openstack_{key}") or section.get(key) or default
            return str(value).strip()
        cloud, image, flavor = option("cloud"), option("image"), option("flavor")
        missing = [k for k, v in (("cloud", cloud), ("image", image), ("flavor", flavor)) if not v]
        if missing:
            raise SystemExit(f"the OpenStack scaler needs the options {', '.join(missing)}")
        return cls(openstack.connect(cloud=cloud), image, flavor, network=option("network") or None,
                   name_prefix=option("prefix", "candela-worker"), store=store,
                   drain_timeout=float(option("drain_timeout", "60")))

    # What there is

    def host_of(self, server):
        """The job store's host name of ``server``'s executor."""
        return server.name

    def ours(self, server):
        return bool(server.name) and server.name.startswith(self.prefix)

    def servers(self):
        """Our servers (Nova filters names by regular expression; checked again here)."""
        listed = self.conn.compute.servers(details=True, name=f"^{re.escape(self.prefix)}")
        return [s for s in listed if self.ours(s) and (s.status or "").upper() not in GONE]

    def draining(self):
        """Host names being drained (none without a store)."""
        return set(self.store.draining_hosts()) if self.store is not None else set()

    def current(self):
        """The servers that take jobs: ours, neither draining nor failed."""
        draining = self.draining()
        return sum(1 for s in self.servers() if self._serving(s, draining))

    def _serving(self, server, draining):
        return self.host_of(server) not in draining and (server.status or "").upper() != "ERROR"

    # Changing it

    def create(self):
        """Create one worker server (not waited for: it boots while the monitor goes on)."""
        name = f"{self.prefix}-{uuid.uuid4().hex[:8]}"
        server = self.conn.compute.create_server(
            name=name, image_id=self.image, flavor_id=self.flavor,
            networks=[{"uuid": self.network}] if self.network else "auto",
            metadata={TAG: self.prefix})
        LOG.info("created server %s (%s)", name, server.id)
        return server

    def drain(self, server):
        """Stop ``server`` claiming jobs; return how many jobs still run on it."""
        if self.store is None:
            raise RuntimeError("no job store: the scaler cannot drain a node, so it deletes none")
        host = self.host_of(server)
        if self.store.drain(host):
            LOG.info("draining %s", host)
        return len(self.store.running_on(host))

    def delete_if_idle(self, server):
        """Delete a draining server once no job runs on it; True when deleted. Its draining row
        stays until the server is gone from the list (see :meth:`forget_gone`): deletion is
        asynchronous and the executor must not claim a job in the meantime."""
        if self.store.running_on(self.host_of(server)):
            return False
        self.conn.compute.delete_server(server.id, ignore_missing=True)
        LOG.info("deleted drained server %s (%s)", server.name, server.id)
        return True

    def forget_gone(self, servers):
        """Un-drain the hosts of our prefix whose servers no longer exist."""
        if self.store is None:
            return
        live = {self.host_of(s) for s in servers}
        for host in self.draining():
            if host.startswith(self.prefix) and host not in live:
                self.store.undrain(host)

    def apply(self, decision, load):
        """Create servers up to ``decision.workers`` serving ones, or drain the surplus (idle
        ones first) and delete every draining server whose jobs have ended, waiting at most
        ``drain_timeout`` for them."""
        done = {"action": self.name, "workers": decision.workers, "reasons": list(decision.reasons),
                "created": [], "draining": [], "deleted": [], "errors": []}
        with self.lock:
            servers = self.servers()
            self.forget_gone(servers)
            draining = self.draining()
            serving = [s for s in servers if self._serving(s, draining)]
            done["previous"] = len(serving)
            for _ in range(decision.workers - len(serving)):
                try:
                    done["created"].append(self.create().name)
                except os_exceptions.SDKException as error:  # quota, image gone: retried next round
                    done["errors"].append(f"creating a server: {error}")
                    break
            surplus = len(serving) - decision.workers
            if surplus > 0 and self.store is None:
                done["errors"].append("no job store: not deleting any server, its jobs cannot be seen")
            elif surplus > 0:
                for server in self._least_busy(serving)[:surplus]:
                    self.drain(server)
            # Failed servers run nothing and hold quota: they leave too.
            draining = self.draining()
            leaving = [s for s in servers if self.host_of(s) in draining
                       or (self.store is not None and (s.status or "").upper() == "ERROR")]
        done["deleted"] = self._delete_drained(leaving, done["errors"])
        done["draining"] = sorted(s.name for s in leaving if s.name not in done["deleted"])
        LOG.info(json.dumps(done))
        return done

    def _least_busy(self, servers):
        """Idle servers first, then by fewer running jobs; among equals the newest first."""
        by_age = sorted(servers, key=lambda s: s.created_at or "", reverse=True)
        return sorted(by_age, key=lambda s: len(self.store.running_on(self.host_of(s))))

    def _delete_drained(self, leaving, errors):
        """Delete the ``leaving`` servers as they become idle, for up to ``drain_timeout``."""
        deleted = []
        deadline = self.clock() + self.drain_timeout
        while True:
            for server in [s for s in leaving if s.name not in deleted]:
                try:
                    with self.lock:
                        if self.delete_if_idle(server):
                            deleted.append(server.name)
                except os_exceptions.SDKException as error:
                    errors.append(f"deleting {server.name}: {error}")
                    leaving = [s for s in leaving if s is not server]
            if len(deleted) == len(leaving) or self.clock() >= deadline:
                return deleted
            self.sleep(min(self.poll, max(0.0, deadline - self.clock())))

    # HTTP endpoints

    def app(self):
        return NodesApp(self)


class NodesApp:
    """CANDELA's node endpoints, JSON in and out; errors are JSON messages, never tracebacks."""

    def __init__(self, scaler):
        self.scaler = scaler
        self.urls = Map([
            Rule("/nodes", methods=["GET"], endpoint=self.list),
            Rule("/nodes", methods=["POST"], endpoint=self.add),
            Rule("/nodes/<node_id>", methods=["GET"], endpoint=self.show),
            Rule("/nodes/<node_id>", methods=["DELETE"], endpoint=self.remove),
        ])

    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            endpoint, arguments = self.urls.bind_to_environ(environ).match()
            response = endpoint(request, **arguments)
        except HTTPException as error:
            response = answer({"error": error.description}, error.code)
            if error.code == 405:
                response.headers["Allow"] = ", ".join(error.valid_methods or ())
        except os_exceptions.SDKException as error:
            LOG.warning("OpenStack error in %s %s: %s", request.method, request.path, error)
            response = answer({"error": f"OpenStack refused or failed: {error}"}, 502)
        except Exception as error:  # the monitor stays up and the client gets a reason
            LOG.exception("error in %s %s", request.method, request.path)
            response = answer({"error": f"{type(error).__name__}: {error}"}, 500)
        return response(environ, start_response)

    def describe(self, server):
        scaler = self.scaler
        host = scaler.host_of(server)
        node = {"id": server.id, "name": server.name, "status": server.status}
        if scaler.store is not None:
            node["draining"] = host in scaler.draining()
            node["running_jobs"] = len(scaler.store.running_on(host))
        return node

    def list(self, request):
        return answer({"nodes": [self.describe(s) for s in self.scaler.servers()]})

    def add(self, request):
        with self.scaler.lock:
            server = self.scaler.create()
        # Nova answers a create with the id only: the name and status are what was asked and BUILD.
        node = {"id": server.id, "name": server.name, "status": server.status or "BUILD"}
        response = answer(node, 201)
        response.headers["Location"] = f"{request.base_url.rstrip('/')}/{server.id}"
        return response

    def find(self, node_id):
        """Our server ``node_id``; 404 when Nova does not know it, 403 when it is not ours."""
        try:  # by id only: a name could match several servers
            server = self.scaler.conn.compute.get_server(node_id)
        except os_exceptions.NotFoundException:
            raise NotFound(f"no server {node_id}") from None
        if not self.scaler.ours(server):
            return None
        return server

    def show(self, request, node_id):
        server = self.find(node_id)
        if server is None:
            return refuse(node_id, self.scaler.prefix)
        return answer(self.describe(server))

    def remove(self, request, node_id):
        """Drain the node; delete it now when idle (200), else leave it draining for the
        monitor's rounds to delete once its jobs end (202). Never waits: a request is not held
        for the length of a job."""
        server = self.find(node_id)
        if server is None:
            return refuse(node_id, self.scaler.prefix)
        if self.scaler.store is None:
            return answer({"error": "no job store: the monitor cannot drain a node, so it deletes none"}, 409)
        with self.scaler.lock:
            running = self.scaler.drain(server)
            if not running and self.scaler.delete_if_idle(server):
                return answer({"id": server.id, "name": server.name, "status": "deleted"})
        return answer({"id": server.id, "name": server.name, "status": "draining", "running_jobs": running,
                       "message": "takes no new job; deleted once its running jobs have ended"}, 202)


def answer(document, status=200):
    return Response(json.dumps(document), status=status, mimetype="application/json")


def refuse(node_id, prefix):
    return answer({"error": f"server {node_id} is not a CANDELA worker (its name does not start with {prefix!r})"},
                  403)
