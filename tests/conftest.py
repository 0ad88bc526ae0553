"""Shared fixtures: the real data, the in-process WPS server and its data root, a live server
process, and small inputs under the data root."""

import os
from datetime import datetime, timezone

import pytest

from candela.datasets.synthetic_s2 import write_product
from helpers.config import write_config
from helpers.engines import local_cluster
from helpers.live import LiveServer, serve
from helpers.paths import ROOT, shared_path
from helpers.rasters import landscape, paste, second_date, write_optical

# Tests share 2 cores between this process and the job workers it starts: GDAL stays
# single-threaded here and in the workers (they inherit the environment).
os.environ["CANDELA_THREADS"] = "1"

#: Sensing time of :func:`product_zip`.
SENSING = datetime(2021, 6, 1, 10, 30, 21, tzinfo=timezone.utc)


@pytest.fixture
def shared_data():
    """Root of the real data in ../shared/data."""
    return shared_path("data")


@pytest.fixture(scope="session")
def server_root(tmp_path_factory):
    """Folder of the in-process server: config, outputs, work, job database, and a data root."""
    root = tmp_path_factory.mktemp("wps")
    (root / "data").mkdir()
    return root


@pytest.fixture(scope="session")
def data_root(server_root):
    return server_root / "data"


@pytest.fixture(scope="session")
def wps_app(server_root, data_root):
    """Our WSGI application (WPS at /wps, outputs at /outputs) on a test configuration."""
    import logging

    import wsgi
    import pywps.tests  # noqa: F401  (importing it disables logging...)

    logging.disable(logging.NOTSET)  # ...so turn logging back on for the suite
    # The suite serves references from 127.0.0.1, which only an operator may allow.
    config = write_config(server_root / "test.cfg", server_root, data_roots=[data_root],
                          candela=dict(allowedhosts="127.0.0.0/8"))
    return wsgi.create_app([str(config)])


@pytest.fixture
def candela_settings(wps_app, server_root):
    """``candela_settings(key=value, ...)`` sets ``[candela]`` options of :func:`wps_app` for one
    test: here, and in the job workers, which read them from a configuration file added to
    those they are started with."""
    from pywps import configuration

    from processes import config

    saved, override = {}, server_root / "override.cfg"

    def settings(**options):
        for key, value in options.items():
            saved.setdefault(key, configuration.CONFIG.get("candela", key, fallback=None))
            configuration.CONFIG.set("candela", key, str(value))
        lines = ["[candela]", *(f"{k} = {configuration.CONFIG.get('candela', k)}" for k in saved)]
        override.write_text("\n".join(lines) + "\n")
        if str(override) not in config.LOADED:
            config.LOADED.append(str(override))

    yield settings
    if str(override) in config.LOADED:
        config.LOADED.remove(str(override))
    for key, value in saved.items():
        if value is None:
            configuration.CONFIG.remove_option("candela", key)
        else:
            configuration.CONFIG.set("candela", key, value)


@pytest.fixture
def wps(wps_app):
    """A PyWPS test client of :func:`wps_app`."""
    from pywps.tests import client_for

    return client_for(wps_app)


@pytest.fixture(scope="module")
def product_zip(data_root):
    """A tiny zipped L2A product under the data root."""
    folder = data_root / "products"
    folder.mkdir(exist_ok=True)
    return write_product(folder, level="L2A", size_10m=120, sensing_time=SENSING, zipped=True)


@pytest.fixture(scope="module")
def pair(data_root):
    """A small 4-band before/after pair under the data root (and ``after_b05.tif``, with B05 for B08)."""
    folder = data_root / "pair"
    folder.mkdir(exist_ok=True)
    before = landscape((96, 112))
    after = paste(second_date(before), slice(30, 60), slice(40, 80))
    write_optical(folder / "before.tif", before)
    write_optical(folder / "after.tif", after)
    write_optical(folder / "after_b05.tif", after, descriptions=("B02", "B03", "B04", "B05"))
    return folder


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """``python wsgi.py`` with a config given by $PYWPS_CFG; yield (base url, data root)."""
    root = tmp_path_factory.mktemp("live")
    data = root / "data"
    data.mkdir()
    with LiveServer(root, command=serve(ROOT / "wsgi.py"), data_roots=[data]) as server:
        yield server.base, data


@pytest.fixture(scope="module")
def dask_cluster():
    """A real local Dask cluster of two worker processes and its client: ``(cluster, client)``
    (skips without distributed)."""
    with local_cluster() as running:
        yield running
