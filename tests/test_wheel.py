"""The server from an installed wheel, not from a checkout: the wheel is built (offline, from a
copy of the checkout), installed into a throwaway folder, started by its console command from a
folder outside the checkout, and driven through WPS. Its defaults come from the packaged
``processes/defaults.cfg``, its data go to the per-user data folder, its shipped model is the
wheel's own, and nothing is written into the checkout."""

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
import requests

from helpers.paths import ROOT
from helpers.live import free_port
from helpers.rasters import landscape, paste, second_date, write_optical
from helpers.schemas import assert_valid
from helpers.wps import NS, exception_text, execute_xml, outputs_of

pytestmark = [pytest.mark.live, pytest.mark.wheel]


def _version(name):
    try:
        return tuple(int(part) for part in metadata.version(name).split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        return None


def require_offline_build():
    """Skip, saying why, when this Python cannot build the wheel without downloading anything."""
    setuptools, wheel = _version("setuptools"), _version("wheel")
    if _version("pip") is None:
        pytest.skip("building the wheel needs pip in the test's Python")
    if setuptools is None or setuptools < (64, 0):
        pytest.skip("building the wheel offline (--no-build-isolation) needs setuptools>=64 in the test's Python")
    if setuptools < (70, 1) and wheel is None:
        pytest.skip("building the wheel offline needs the 'wheel' package with setuptools<70.1")


def copy_sources(destination):
    """The checkout's files (tracked, and untracked ones git does not ignore), so that building
    writes nothing (build/, *.egg-info) into the checkout."""
    if (ROOT / ".git").exists() and shutil.which("git"):
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                                cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
        for name in filter(None, listed):
            source = ROOT / name
            if source.is_file() and not source.is_symlink():
                (destination / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, destination / name)
    else:
        shutil.copytree(ROOT, destination, symlinks=True, dirs_exist_ok=True, ignore=shutil.ignore_patterns(
            ".git", ".venv", "var", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache"))


def snapshot(folder):
    """Every file under ``folder`` (symlinks not followed, .git left out) with its size and mtime."""
    found = {}
    for top, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in files:
            path = Path(top, name)
            stat = path.lstat()
            found[str(path.relative_to(folder))] = (stat.st_size, stat.st_mtime_ns)
    return found


def run(command, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, **kwargs)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel built from a copy of the checkout and installed with ``pip --target``; yields
    (wheel, install folder)."""
    require_offline_build()
    root = tmp_path_factory.mktemp("wheel")
    source, dist, target = root / "source", root / "dist", root / "site"
    source.mkdir()
    copy_sources(source)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    env = {**os.environ, "PIP_NO_INDEX": "1"}  # nothing downloaded
    run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(dist), str(source)], env=env)
    (wheel,) = dist.glob("candela_wps-*.whl")
    run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)], env=env)
    return wheel, target


def test_the_wheel_carries_every_package_the_defaults_and_the_shipped_models(installed):
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = {str(init.parent.relative_to(ROOT)) for top in ("candela", "processes")
                for init in (ROOT / top).rglob("__init__.py")}
    assert {f"{package}/__init__.py" for package in packages} <= names, "a package is missing from setup.cfg"
    assert {"wsgi.py", "processes/defaults.cfg", "candela/models/oscd-ae-v1/metadata.json",
            "candela/models/oscd-ae-v1/encoder.weights.h5"} <= names
    # The search page and everything under it: the wheel's server must serve it with no internet.
    page = {str(path.relative_to(ROOT)) for path in (ROOT / "processes" / "static").rglob("*") if path.is_file()}
    assert "processes/static/search/vendor/leaflet/leaflet.js" in page
    assert page <= names, f"missing from setup.cfg's package_data: {sorted(page - names)}"
    assert "pywps.cfg" not in names  # the checkout's own settings stay in the checkout
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "candela-wps = wsgi:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_the_installed_server_runs_a_job_with_its_shipped_model_and_writes_nothing_into_the_checkout(
        installed, tmp_path):
    _, target = installed
    command = target / "bin" / "candela-wps"
    assert command.exists(), sorted(p.name for p in (target / "bin").iterdir())
    # A user's machine: another working folder, another home, nothing of the checkout's settings.
    elsewhere, user = tmp_path / "elsewhere", tmp_path / "user"
    elsewhere.mkdir()
    user.mkdir()
    data_folder = user / ".local" / "share" / "candela-wps"
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYWPS_CFG", "CANDELA_HOME", "CANDELA_MODELS", "XDG_DATA_HOME", "PYTHONPATH")}
    env.update(HOME=str(user), PYTHONPATH=str(target))
    checkout_before = snapshot(ROOT)

    # The installed code runs, reads no file of the checkout, and resolves paths in the data folder.
    where = json.loads(run([sys.executable, "-c", (
        "import json, processes, candela; from processes import config; c = config.load_config(); "
        "print(json.dumps([processes.__file__, candela.__file__, str(config.CHECKOUT), str(config.HOME), "
        "c.get('candela', 'models'), c.get('server', 'outputpath'), c.get('server', 'allowedinputpaths'), "
        "c.get('logging', 'database')]))")], cwd=elsewhere, env=env).splitlines()[-1])
    assert where == [str(target / "processes" / "__init__.py"), str(target / "candela" / "__init__.py"), "None",
                     str(data_folder), str(target / "candela" / "models"), str(data_folder / "outputs"),
                     str(data_folder / "data"), f"sqlite:///{data_folder / 'jobs.sqlite'}"]

    # Two dates of a scene under the default data root, named by relative path in the request.
    (data_folder / "data").mkdir()
    before = landscape((96, 112))
    write_optical(data_folder / "data" / "before.tif", before)
    write_optical(data_folder / "data" / "after.tif", paste(second_date(before), slice(30, 60), slice(40, 80)))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = tmp_path / "port.cfg"  # only the address: everything else is the packaged defaults
    settings.write_text(f"[server]\nurl = {base}/wps\noutputurl = {base}/outputs/\n")

    started = time.monotonic()
    with open(tmp_path / "server.log", "wb") as log:
        server = subprocess.Popen([str(command)], cwd=elsewhere, env={**env, "PYWPS_CFG": str(settings)},
                                  stdout=log, stderr=subprocess.STDOUT)
    try:
        while True:
            try:
                requests.get(f"{base}/", timeout=2)
                break
            except (requests.ConnectionError, requests.Timeout):
                assert server.poll() is None and time.monotonic() - started < 60, \
                    (tmp_path / "server.log").read_text(errors="replace")[-3000:]
                time.sleep(0.2)

        # The search page, and the Leaflet it loads, come from the wheel.
        page = requests.get(f"{base}/search/", timeout=30)
        assert page.status_code == 200 and 'src="static/vendor/leaflet/leaflet.js"' in page.text
        leaflet = requests.get(f"{base}/search/static/vendor/leaflet/leaflet.js", timeout=30)
        assert leaflet.status_code == 200 and b"Leaflet 1.9.4" in leaflet.content[:200]

        capabilities = assert_valid(requests.get(f"{base}/wps", params=dict(
            service="WPS", request="GetCapabilities", version="1.0.0"), timeout=30).content)
        offered = set(capabilities.xpath("//wps:Process/ows:Identifier/text()", namespaces=NS))
        assert {"Jpeg2Tiff", "ExtractInfo", "ChangeDetect", "TrainAutoencoder", "SARChangeDetect"} <= offered

        xml = execute_xml("ChangeDetect", [("before_ref", "before.tif"), ("after_ref", "after.tif")],
                          outputs=[("change_map", True), ("summary", False)])
        response = requests.post(f"{base}/wps", data=xml.encode(), headers={"Content-Type": "text/xml"}, timeout=120)
        doc = assert_valid(response.content)
        assert doc.xpath("//wps:ProcessSucceeded", namespaces=NS), \
            exception_text(doc) + (tmp_path / "server.log").read_text(errors="replace")[-3000:]
        outputs = outputs_of(doc)
        summary = json.loads(outputs["summary"])
        assert summary["method"] == "autoencoder" and summary["model"] == "oscd-ae-v1"
        assert 0.05 < summary["changed_fraction"] < 0.2
        href = outputs["change_map"]
        assert href.startswith(f"{base}/outputs/")
        assert (data_folder / "outputs" / href[len(f"{base}/outputs/"):]).is_file()
        assert requests.get(href, timeout=30).content[:4] in (b"II*\0", b"MM\0*")
        job_id = href[len(f"{base}/outputs/"):].split("/")[0]
    finally:
        server.terminate()
        server.wait(20)

    # The commands find the same job store from any working folder (here: the checkout's parent).
    said = run([str(command), "dismiss", job_id], cwd=ROOT.parent, env=env)
    assert f"Job {job_id} had already ended (successful)" in said, said
    assert snapshot(ROOT) == checkout_before, "the installed server wrote into the checkout"
