"""ChangeDetect's windows as Dask tasks (candela.compute): the same map as the serial pass,
progress with every window, and the windows really computed by the cluster's worker processes.

The cluster is a real ``distributed.LocalCluster`` (two worker processes, one thread each),
which ChangeDetect reaches by its address. TensorFlow never runs in this process
(tests/helpers/isolated.py): the ``raw`` method needs no encoder and runs here, the
``autoencoder`` one runs in forked children (the workers are spawned, fresh processes).
"""


import numpy as np
import pytest
import rasterio

from candela.change import changedetect
from candela.compute import ClusterError, DaskEngine, SerialEngine
from candela.errors import InputError
from helpers.engines import (FilesGone, InlineRemote, assert_ran_on_workers, execute_on_cluster,
                             needs_distributed, tasks_named)
from helpers.isolated import run_isolated
from helpers.rasters import landscape, paste, second_date, write_optical

WINDOW = 48
SHAPE = (130, 150)  # 3 x 4 = 12 windows of 48


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pair")
    before = landscape(SHAPE)
    after = paste(second_date(before), slice(30, 60), slice(40, 80))
    after[:, :10, :16] = np.nan  # nodata across a window border
    return write_optical(folder / "before.tif", before), write_optical(folder / "after.tif", after)


def _run(pair, destination, engine=None, **options):
    """The map, its tags, the summary and the progress calls of one detect."""
    calls = []
    summary = changedetect.detect(*pair, destination, window=WINDOW, engine=engine,
                                  progress=lambda fraction, message: calls.append((fraction, message)), **options)
    with rasterio.open(destination) as out:
        return out.read(1), out.tags(), summary, calls


def _on_cluster(pair, destination, address, **options):
    with DaskEngine(address) as engine:
        return _run(pair, destination, engine, **options)


def _windows():
    return -(-SHAPE[0] // WINDOW) * -(-SHAPE[1] // WINDOW)


def _same(first, second):
    (map1, tags1, summary1, _), (map2, tags2, summary2, _) = first, second
    np.testing.assert_allclose(map2, map1, atol=1e-6, equal_nan=True)
    assert np.array_equal(np.isnan(map1), np.isnan(map2)) and np.isnan(map1).any()
    assert {k: v for k, v in tags2.items() if k != "TIFFTAG_DATETIME"} == \
        {k: v for k, v in tags1.items() if k != "TIFFTAG_DATETIME"}
    assert summary2["histogram"] == summary1["histogram"] and summary2["mapping"] == summary1["mapping"]


def _window_progress(calls):
    """The progress calls of the windows: one per window, increasing, ending at 1.0."""
    windows = [(f, m) for f, m in calls if m.startswith("Window ")]
    fractions = [f for f, _ in windows]
    assert len(windows) == _windows()
    assert [m for _, m in windows] == [f"Window {n} of {_windows()}" for n in range(1, _windows() + 1)]
    assert all(a < b for a, b in zip(fractions, fractions[1:])) and fractions[-1] == pytest.approx(1.0)
    assert calls[-1][0] == pytest.approx(1.0)


def test_window_tasks_reopening_the_rasters_give_the_serial_map(pair, tmp_path):
    serial = _run(pair, tmp_path / "serial.tif", method="raw", target="vegetation_loss")
    tasks = _run(pair, tmp_path / "tasks.tif", InlineRemote(), method="raw", target="vegetation_loss")
    _same(serial, tasks)
    np.testing.assert_array_equal(tasks[0], serial[0])
    _window_progress(serial[3])
    _window_progress(tasks[3])


@needs_distributed
def test_raw_windows_on_a_local_cluster(pair, tmp_path, dask_cluster):
    import distributed

    local, client = dask_cluster
    serial = _run(pair, tmp_path / "serial.tif", method="raw", target="vegetation_loss")
    with distributed.get_task_stream(client) as stream:
        dask = _on_cluster(pair, tmp_path / "dask.tif", local.scheduler_address, method="raw",
                           target="vegetation_loss")
    _same(serial, dask)
    _window_progress(dask[3])
    # Every window was a task, run by a worker process, not this one.
    tasks = [t for t in stream.data if "probability_window" in str(t["key"])]
    assert len(tasks) == _windows()
    assert_ran_on_workers(client, tasks)


@needs_distributed
def test_autoencoder_windows_on_a_local_cluster(pair, tmp_path, dask_cluster):
    import distributed

    local, client = dask_cluster
    serial = run_isolated(_run, pair, tmp_path / "serial.tif")
    with distributed.get_task_stream(client) as stream:
        dask = run_isolated(_on_cluster, pair, tmp_path / "dask.tif", local.scheduler_address)
    _same(serial, dask)
    assert dask[2]["model"] == serial[2]["model"] and dask[2]["changed_fraction"] == serial[2]["changed_fraction"]
    _window_progress(dask[3])
    tasks = [t for t in stream.data if "probability_window" in str(t["key"])]
    assert len(tasks) == _windows()
    # The workers that ran windows loaded the encoder once, and keep it.
    cached = client.run(lambda: sorted(k[0] for k in changedetect._FEATURES))
    for worker in {t["worker"] for t in tasks}:
        assert cached[worker].count("autoencoder") == 1


@needs_distributed
def test_tasks_in_flight_are_bounded(dask_cluster):
    local, client = dask_cluster
    consumed = []

    def items():
        for n in range(10):
            consumed.append(n)
            yield n

    engine = DaskEngine(client=client, in_flight=3)
    results = engine.map(_square, items())
    assert next(results) == 0 and len(consumed) == 3  # three submitted before the first is collected
    assert list(results) == [n * n for n in range(1, 10)]
    assert DaskEngine(client=client).limit() == 4  # twice the cluster's two threads
    with pytest.raises(ZeroDivisionError):
        list(engine.map(_inverse, range(6)))
    engine.close()
    assert client.status == "running"  # a client given is not the engine's to close


def _square(n):
    return n * n


def _inverse(n):
    return 1 / (n - 2)


def test_changedetect_through_wps_runs_its_windows_on_the_configured_cluster(pair, tmp_path, dask_cluster, wps,
                                                                             candela_settings, data_root,
                                                                             server_root):
    import shutil

    from helpers.wps import execute_xml, output_path, outputs_of

    folder = data_root / "dask-pair"
    folder.mkdir(exist_ok=True)
    for path in pair:
        shutil.copy(path, folder / path.name)
    xml = execute_xml("ChangeDetect", [("before_ref", "dask-pair/before.tif"), ("after_ref", "dask-pair/after.tif"),
                                       ("method", "raw")], outputs=[("change_map", True)])
    doc = execute_on_cluster(wps, candela_settings, dask_cluster, xml, "probability_window")
    with rasterio.open(output_path(outputs_of(doc)["change_map"], server_root)) as out:
        served = out.read(1)
    changedetect.detect(*pair, tmp_path / "here.tif", method="raw")
    with rasterio.open(tmp_path / "here.tif") as here:
        np.testing.assert_allclose(served, here.read(1), atol=1e-6, equal_nan=True)


def test_a_client_factory_in_the_configuration_makes_the_jobs_client(dask_cluster, candela_settings):
    import distributed

    from helpers import engines
    from processes.compute import engine_for_config

    local, client = dask_cluster
    engines.TEST_SCHEDULER["address"] = local.scheduler_address
    candela_settings(dask="helpers.engines:client_of_test_cluster")
    with engine_for_config() as engine, distributed.get_task_stream(client) as stream:
        assert list(engine.map(_square, range(5))) == [0, 1, 4, 9, 16]
        made = engine.client
        assert made is not client and made.scheduler.address == local.scheduler_address
    assert tasks_named(stream, "_square"), "the tasks ran on the cluster"
    assert made.status == "closed", "the factory's client is the engine's own, closed after the job"
    candela_settings(dask="no_such_module:client")
    with pytest.raises(RuntimeError, match=r"\[candela\] dask = no_such_module:client: no such function"):
        engine_for_config()
    candela_settings(dask=local.scheduler_address)  # an address is not taken for a factory
    with engine_for_config() as engine:
        assert engine.connect is None and engine.address == local.scheduler_address


def test_a_task_that_cannot_open_the_inputs_fails_as_the_clusters_fault(pair, tmp_path):
    """The job opened them; a worker that cannot is a deployment problem, not the user's input."""
    import shutil

    before, after = (shutil.copy(path, tmp_path / path.name) for path in pair)
    with pytest.raises(ClusterError, match="could not open again what the job opened") as raised:
        changedetect.detect(before, after, tmp_path / "map.tif", method="raw", window=WINDOW,
                            engine=FilesGone(after))
    assert isinstance(raised.value.__cause__, (InputError, OSError))


class _Future:
    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value

    def cancel(self):
        pass


class _GrowingClient:
    """A client whose cluster has one thread until ``grow_at`` tasks were submitted, then eight."""

    def __init__(self, grow_at):
        self.grow_at, self.submitted, self.held = grow_at, 0, []

    def nthreads(self):
        return {"w1": 1} if self.submitted < self.grow_at else {f"w{n}": 1 for n in range(8)}

    def submit(self, function, item, **_):
        self.submitted += 1
        return _Future(function(item))


def test_tasks_in_flight_follow_a_growing_cluster(monkeypatch):
    client = _GrowingClient(grow_at=4)
    monkeypatch.setattr(DaskEngine, "RESIZE_EVERY", 0.0)  # read the cluster at every submission
    held = []  # tasks submitted and not yet collected, as each result comes
    for received, result in enumerate(DaskEngine(client=client).map(lambda n: n, range(40))):
        assert result == received
        held.append(client.submitted - received)
    assert held[0] == 2, "one thread: two tasks at once"
    assert max(held) == 16, "eight threads: sixteen at once, once the cluster has grown"


@needs_distributed
def test_an_unreachable_scheduler_is_a_cluster_error_naming_it():
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}), \
            pytest.raises(ClusterError, match=r"the Dask scheduler tcp://127.0.0.1:1 could not be reached"):
        DaskEngine("tcp://127.0.0.1:1").client


@pytest.mark.parametrize("value, factory", [
    ("tcp://10.0.0.5:8786", False), ("tls://scheduler.example:8786", False), ("scheduler:8786", False),
    ("inproc://10.0.0.5/1234/1", False), ("candela_site:gateway_client", True), ("a.b.c:client", True),
])
def test_factories_are_told_apart_from_addresses(value, factory):
    from processes.compute import FACTORY

    assert bool(FACTORY.fullmatch(value)) == factory


@needs_distributed
def test_a_shared_value_goes_to_every_worker_once_and_reaches_each_task_as_itself(dask_cluster):
    local, client = dask_cluster
    big = np.arange(2_000_000, dtype=np.float64)  # 16 MB: far more than a task should carry
    with DaskEngine(client=client) as engine:
        results = engine.map(_shared_sum, range(6), shared=big)
        sums = [next(results)]
        # Scattered to every worker, as one piece of data each holds (not inside the tasks).
        everywhere = set.intersection(*(set(keys) for keys in client.has_what().values()))
        assert [key for key in everywhere if str(key).startswith("ndarray-")], client.has_what()
        sums += list(results)
    assert sums == [float(big.sum()) + n for n in range(6)]
    assert list(SerialEngine().map(_shared_sum, range(6), shared=big)) == sums


def _shared_sum(shared, n):
    return float(shared.sum()) + n
