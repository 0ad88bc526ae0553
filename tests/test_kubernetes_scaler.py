"""The Kubernetes scaler through the real kubernetes client, against a fake API server on
127.0.0.1 that holds one Deployment's scale subresource."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from kubernetes import client

from candela.scaling.decision import Decision, Load
from candela.scaling.kubernetes import KubernetesScaler

PATH = "/apis/apps/v1/namespaces/{ns}/deployments/{name}/scale"


class FakeApi:
    """The scale of Deployment ``name`` in ``ns``, served over HTTP; requests recorded."""

    def __init__(self, ns="eo", name="workers", replicas=2):
        self.path = PATH.format(ns=ns, name=name)
        self.ns, self.name, self.replicas = ns, name, replicas
        self.requests = []  # (method, path, content type, body)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                fake.requests.append(("GET", self.path, None, None))
                self.answer()

            def do_PATCH(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(("PATCH", self.path, self.headers["Content-Type"], body))
                if self.path == fake.path and self.headers["Content-Type"].endswith("merge-patch+json"):
                    fake.replicas = body["spec"]["replicas"]
                self.answer()

            def answer(self):
                if self.path != fake.path:
                    status, document = 404, {"apiVersion": "v1", "kind": "Status", "status": "Failure",
                                             "reason": "NotFound", "code": 404}
                else:
                    status, document = 200, fake.scale()
                data = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"http://127.0.0.1:{self.server.server_port}"

    def scale(self):
        return {"apiVersion": "autoscaling/v1", "kind": "Scale",
                "metadata": {"name": self.name, "namespace": self.ns, "resourceVersion": "1"},
                "spec": {"replicas": self.replicas},
                "status": {"replicas": self.replicas, "selector": "app=workers"}}

    def patches(self):
        return [r for r in self.requests if r[0] == "PATCH"]


@pytest.fixture
def fake():
    api = FakeApi()
    threading.Thread(target=api.server.serve_forever, daemon=True).start()
    yield api
    api.server.shutdown()


def scaler_for(fake, name="workers"):
    return KubernetesScaler(name, "eo", client.ApiClient(client.Configuration(host=fake.host)))


def test_current_reads_the_deployment_scale(fake):
    assert scaler_for(fake).current() == 2
    assert fake.requests == [("GET", fake.path, None, None)]


def test_apply_patches_spec_replicas(fake):
    done = scaler_for(fake).apply(Decision(5, 2, ["10 jobs at 2 per worker"]), Load(10, 0))
    assert fake.patches() == [("PATCH", fake.path, "application/strategic-merge-patch+json",
                               {"spec": {"replicas": 5}})]
    assert fake.replicas == 5
    assert done["patched"] is True and done["previous"] == 2 and done["workers"] == 5
    assert scaler_for(fake).current() == 5


def test_apply_leaves_an_unchanged_count_alone(fake):
    done = scaler_for(fake).apply(Decision(2, 2, ["within tolerance of the target"]), Load(4, 0))
    assert fake.patches() == [] and done["patched"] is False


def test_a_missing_deployment_is_an_api_error(fake):
    with pytest.raises(client.ApiException) as raised:
        scaler_for(fake, "other").current()
    assert raised.value.status == 404


def test_from_config_with_a_bare_host(fake):
    scaler = KubernetesScaler.from_config({"kubernetes_deployment": "workers", "kubernetes_namespace": "eo",
                                           "kubernetes_host": fake.host})
    assert scaler.current() == 2


def test_from_config_needs_a_deployment():
    with pytest.raises(SystemExit, match="kubernetes_deployment"):
        KubernetesScaler.from_config({"kubernetes_host": "http://127.0.0.1:1"})


def test_from_config_with_a_kubeconfig_file(fake, tmp_path):
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(json.dumps({  # YAML is a superset of JSON
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "fake", "cluster": {"server": fake.host}}],
        "users": [{"name": "monitor", "user": {"token": "secret-token"}}],
        "contexts": [{"name": "test", "context": {"cluster": "fake", "user": "monitor"}}]}))
    scaler = KubernetesScaler.from_config({"kubernetes_deployment": "workers", "kubernetes_namespace": "eo",
                                           "kubernetes_config": str(kubeconfig)})
    assert scaler.current() == 2


def test_the_monitor_drives_the_deployment(fake, tmp_path):
    from candela.jobs.store import JobStore
    from candela.scaling.decision import Policy
    from candela.scaling.monitor import Monitor

    store = JobStore(f"sqlite:///{tmp_path / 'jobs.sqlite'}")
    for _ in range(12):
        store.submit("ChangeDetect", {})
    policy = Policy(target=2, min_workers=1, max_workers=5)
    monitor = Monitor(policy, scaler_for(fake), store, tmp_path / "state.json", clock=lambda: 1000.0)
    assert monitor.state.workers == 2, "no state file: starts from the Deployment's replicas"
    decision, done = monitor.step()
    assert decision.workers == 5 and fake.replicas == 5 and done["patched"] is True
    assert [r[3] for r in fake.patches()] == [{"spec": {"replicas": 5}}]
    monitor.step()
    assert len(fake.patches()) == 1, "the same count is not patched again"
