"""The OpenStack scaler through the real openstacksdk against a fake Keystone and Nova: servers
created with the image and flavor asked, surplus nodes drained in the job store and deleted only
once their jobs have ended, and CANDELA's node endpoints (``/nodes``) as JSON."""

import json
import os

import pytest
from werkzeug.test import Client

from candela.jobs import JobStore
from candela.jobs.store import SUCCESSFUL
from candela.scaling.decision import Decision, Load
from candela.scaling.openstack import TAG, OpenStackScaler
from helpers.fake_openstack import FakeOpenStack

PREFIX = "candela-worker"


class FakeTime:
    """A clock that moves only when slept on; ``on_sleep`` runs at each sleep (a job ending)."""

    def __init__(self):
        self.now = 0.0
        self.sleeps = 0
        self.on_sleep = None

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += max(seconds, 0.001)
        self.sleeps += 1
        if self.on_sleep:
            self.on_sleep(self.sleeps)


@pytest.fixture
def fake():
    with FakeOpenStack() as fake:
        yield fake
        assert fake.unknown == [], "the SDK asked the fake something it does not answer"


@pytest.fixture
def store(tmp_path):
    return JobStore(f"sqlite:///{tmp_path / 'jobs.sqlite'}")


@pytest.fixture
def time_():
    return FakeTime()


@pytest.fixture
def scaler(fake, store, time_):
    return OpenStackScaler(fake.connection(), image="img-1", flavor="flavor-2", network="net-3", store=store,
                           drain_timeout=10, poll=1, clock=time_.clock, sleep=time_.sleep)


def run_job_on(store, host):
    """A job claimed by ``host``'s executor: running there."""
    store.submit("P", {})
    job = store.claim(host, 10, os.getpid())
    assert job is not None and job["host"] == host
    return job


def scale(scaler, workers):
    return scaler.apply(Decision(workers, scaler.current(), ["test"]), Load(0, 0))


def test_scale_up_creates_servers_with_the_image_and_flavor_asked(fake, scaler):
    fake.add_server("database")  # not ours: neither counted nor touched
    done = scale(scaler, 3)
    ours = [s for s in fake.servers.values() if s["name"].startswith(PREFIX)]
    assert len(ours) == 3 and sorted(done["created"]) == fake.named(PREFIX)
    for server in ours:
        assert server["image"] == {"id": "img-1"} and server["flavor"] == {"id": "flavor-2"}
        assert server["networks_asked"] == [{"uuid": "net-3"}]
        assert server["metadata"] == {TAG: PREFIX}
    assert scaler.current() == 3
    assert scale(scaler, 3)["created"] == [], "nothing more when the count is reached"
    assert "database" in [s["name"] for s in fake.servers.values()]


def test_scale_down_drains_idle_nodes_first_and_deletes_them(fake, scaler, store):
    scale(scaler, 3)
    busy = fake.named(PREFIX)[0]
    job = run_job_on(store, busy)
    done = scale(scaler, 1)
    assert busy not in done["deleted"] and len(done["deleted"]) == 2
    assert fake.named(PREFIX) == [busy], "the node running a job stays"
    assert set(store.draining_hosts()) == set(done["deleted"]), "drained before deletion"
    assert store.state(job["job_id"])["status"] == "running"
    assert [m for m, p in fake.requests if m == "DELETE"] == ["DELETE"] * 2
    scale(scaler, 1)
    assert store.draining_hosts() == {}, "rows of deleted servers are forgotten once they are gone"


def test_a_busy_node_is_left_draining_and_deleted_once_its_job_ends(fake, scaler, store, time_):
    scale(scaler, 1)
    (host,) = fake.named(PREFIX)
    job = run_job_on(store, host)
    done = scale(scaler, 0)
    assert done["deleted"] == [] and done["draining"] == [host]
    assert time_.now >= 10, "waited for the drain timeout"
    assert fake.named(PREFIX) == [host]
    assert list(store.draining_hosts()) == [host]
    assert scaler.current() == 0, "a draining node is no worker"
    store.submit("P", {})
    assert store.claim(host, 10, os.getpid()) is None, "it takes no new job"
    assert store.claim("elsewhere", 10, os.getpid()) is not None
    # A later round: still busy, still there; once the job has ended it is deleted.
    assert scaler.apply(Decision(0, 0), None)["deleted"] == []
    store.finish(job["job_id"], SUCCESSFUL, "done", attempt=job["attempts"])
    assert scaler.apply(Decision(0, 0), None)["deleted"] == [host]
    assert fake.named(PREFIX) == []


def test_a_node_whose_job_ends_during_the_wait_is_deleted_in_that_round(fake, scaler, store, time_):
    scale(scaler, 2)
    hosts = fake.named(PREFIX)
    job = run_job_on(store, hosts[0])
    run_job_on(store, hosts[1])
    run_job_on(store, hosts[1])  # the busier: the other one is chosen to leave
    time_.on_sleep = lambda n: n == 3 and store.finish(job["job_id"], SUCCESSFUL, "done", attempt=job["attempts"])
    done = scale(scaler, 1)
    assert done["deleted"] == [hosts[0]] and time_.sleeps == 3
    assert fake.named(PREFIX) == [hosts[1]]


def test_scale_up_while_a_node_drains_creates_a_new_one(fake, scaler, store):
    scale(scaler, 1)
    (old,) = fake.named(PREFIX)
    run_job_on(store, old)
    scale(scaler, 0)
    done = scale(scaler, 1)
    assert len(done["created"]) == 1 and old in done["draining"]
    assert scaler.current() == 1 and len(fake.named(PREFIX)) == 2


def test_failures_are_reported_not_raised(fake, scaler):
    fake.fail_create = "Quota exceeded for instances"
    done = scale(scaler, 2)
    assert done["created"] == [] and "Quota exceeded" in done["errors"][0]
    assert scale(scaler, 2)["created"] != [], "retried on the next round"


def test_failed_servers_of_ours_are_deleted(fake, scaler):
    fake.add_server(f"{PREFIX}-broken", status="ERROR")
    done = scale(scaler, 1)
    assert len(done["created"]) == 1 and done["deleted"] == [f"{PREFIX}-broken"]


def test_without_a_store_nothing_is_deleted(fake, time_):
    scaler = OpenStackScaler(fake.connection(), "img", "flv", clock=time_.clock, sleep=time_.sleep)
    scale(scaler, 2)
    assert [s["networks_asked"] for s in fake.servers.values()] == ["auto", "auto"]
    done = scale(scaler, 0)
    assert done["deleted"] == [] and "no job store" in done["errors"][0]
    assert len(fake.named(PREFIX)) == 2


def test_from_config_connects_through_clouds_yaml(fake, store, tmp_path, monkeypatch):
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(json.dumps({"clouds": {"test": {
        "auth": {"auth_url": fake.auth_url, "username": "demo", "password": "secret", "project_name": "demo",
                 "user_domain_name": "Default", "project_domain_name": "Default"},
        "region_name": "RegionOne", "compute_api_version": "2"}}}))  # JSON is YAML
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    section = {"openstack_cloud": "test", "image": "img", "flavor": "flv", "prefix": "cw", "drain_timeout": "5"}
    scaler = OpenStackScaler.from_config(section, store=store)
    assert (scaler.prefix, scaler.drain_timeout, scaler.network) == ("cw", 5.0, None)
    scale(scaler, 1)
    assert fake.named("cw-") != []
    with pytest.raises(SystemExit, match="flavor"):
        OpenStackScaler.from_config({"cloud": "test", "image": "img"})


# The node endpoints


@pytest.fixture
def client(scaler):
    return Client(scaler.app())


def test_post_nodes_creates_one_node(fake, client):
    response = client.post("/nodes")
    assert response.status_code == 201 and response.mimetype == "application/json"
    node = response.get_json()
    assert set(node) == {"id", "name", "status"} and node["name"].startswith(PREFIX)
    assert fake.servers[node["id"]]["image"] == {"id": "img-1"}
    assert response.headers["Location"].endswith(f"/nodes/{node['id']}")
    listed = client.get("/nodes").get_json()["nodes"]
    assert [(n["id"], n["draining"], n["running_jobs"]) for n in listed] == [(node["id"], False, 0)]


def test_delete_drains_then_deletes(fake, client, store):
    idle = client.post("/nodes").get_json()
    busy = client.post("/nodes").get_json()
    job = run_job_on(store, busy["name"])
    response = client.delete(f"/nodes/{idle['id']}")
    assert response.status_code == 200 and response.get_json()["status"] == "deleted"
    assert idle["id"] not in fake.servers and idle["name"] in store.draining_hosts()
    response = client.delete(f"/nodes/{busy['id']}")
    assert response.status_code == 202
    assert response.get_json()["status"] == "draining" and response.get_json()["running_jobs"] == 1
    assert busy["id"] in fake.servers and busy["name"] in store.draining_hosts()
    store.finish(job["job_id"], SUCCESSFUL, "done", attempt=job["attempts"])
    assert client.delete(f"/nodes/{busy['id']}").status_code == 200
    assert busy["id"] not in fake.servers


def test_unknown_and_foreign_nodes_are_refused_as_json(fake, client):
    response = client.delete("/nodes/no-such-id")
    assert response.status_code == 404 and "no-such-id" in response.get_json()["error"]
    foreign = fake.add_server("database")
    response = client.delete(f"/nodes/{foreign}")
    assert response.status_code == 403 and "not a CANDELA worker" in response.get_json()["error"]
    assert foreign in fake.servers
    response = client.put("/nodes")
    assert response.status_code == 405 and response.get_json()["error"]
    assert client.get("/elsewhere").status_code == 404


def test_openstack_errors_are_json_not_tracebacks(fake, client):
    fake.fail_create = "Quota exceeded for instances"
    response = client.post("/nodes")
    assert response.status_code == 502
    assert "Quota exceeded" in response.get_json()["error"] and "Traceback" not in response.get_data(as_text=True)


def test_the_endpoints_over_real_http(scaler):
    """Served by a plain WSGI server, as the monitor serves them beside its /metrics."""
    import threading
    import urllib.error
    import urllib.request
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    server = make_server("127.0.0.1", 0, scaler.app(), handler_class=Quiet)
    threading.Thread(target=server.serve_forever, kwargs=dict(poll_interval=0.05), daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        with urllib.request.urlopen(urllib.request.Request(f"{base}/nodes", method="POST")) as response:
            assert response.status == 201
            node = json.load(response)
        with urllib.request.urlopen(urllib.request.Request(f"{base}/nodes/{node['id']}", method="DELETE")) as response:
            assert response.status == 200 and json.load(response)["status"] == "deleted"
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(urllib.request.Request(f"{base}/nodes/{node['id']}", method="DELETE"))
        assert error.value.code == 404 and error.value.headers["Content-Type"] == "application/json"
        assert "error" in json.load(error.value)
    finally:
        server.shutdown()
        server.server_close()
