"""Shared fixtures: where the real data lives, and skipping cleanly without it."""

import os
from pathlib import Path

import pytest

# Tests share 2 cores between this process and the job workers it starts: GDAL stays
# single-threaded here and in the workers (they inherit the environment).
os.environ["CANDELA_THREADS"] = "1"

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def shared_path(*parts):
    """A path in ../shared, or skip the test with the reason when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs ../shared/{'/'.join(parts)} (beside the project in CI; absent in a user's clone)")
    return path


@pytest.fixture
def shared_data():
    """Root of the real data in ../shared/data."""
    return shared_path("data")


def write_config(path, root, url="http://127.0.0.1:5000", data_roots=(), candela=None, **server):
    """A PyWPS config file for tests: everything under ``root``, served at ``url``.

    ``candela`` adds ``[candela]`` options; ``server`` overrides ``[server]`` ones.
    """
    options = {
        "url": f"{url}/wps",
        "outputurl": f"{url}/outputs/",
        "outputpath": str(root / "outputs"),
        "workdir": str(root / "work"),
        "allowedinputpaths": ":".join(str(r) for r in data_roots),
        "maxsingleinputsize": "20mb",
        "maxrequestsize": "30mb",
        **server,
    }
    lines = ["[server]", *(f"{k} = {v}" for k, v in options.items()),
             "[logging]", "level = INFO", f"database = sqlite:///{root / 'jobs.sqlite'}",
             "[candela]", f"usermodels = {root / 'models'}", *(f"{k} = {v}" for k, v in (candela or {}).items())]
    path.write_text("\n".join(lines) + "\n")
    return path


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
