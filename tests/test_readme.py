"""The README's client examples (section "Clients"), run as written against a live server
serving the sample data, as a new user would paste them (from a folder like a checkout's,
whose data/ they may read)."""

import re
import subprocess
import sys

import pytest

from helpers.live import LiveServer, serve
from helpers.paths import ROOT

pytestmark = pytest.mark.live

README_URL = "http://127.0.0.1:5000"
#: What a failed request or job shows, in WPS and OGC API answers and Python errors.
FAILURES = ("ExceptionReport", "ProcessFailed", "Traceback", '"status": "failed"', "InvalidParameterValue",
            "MissingParameterValue", "NoApplicableCode", "NoSuchProcess", "not found")


def examples():
    """``(id, language, code)`` of each sh/python block of the README's "Clients" section."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Clients\n", 1)[1].split("\n## ", 1)[0]
    found, heading = [], "clients"
    for part in re.split(r"^(### .*)$", section, flags=re.MULTILINE):
        if part.startswith("### "):
            heading = re.sub(r"\W+", "-", part[4:].strip().lower()).strip("-")
            continue
        for number, (language, code) in enumerate(re.findall(r"```(sh|python)\n(.*?)```", part, re.DOTALL), 1):
            found.append(pytest.param(language, code, id=f"{heading}-{number}"))
    return found


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``python wsgi.py`` serving the sample data, as ``make run`` does."""
    root = tmp_path_factory.mktemp("readme")
    with LiveServer(root, command=serve(ROOT / "wsgi.py"), data_roots=[ROOT / "data" / "samples"]) as live:
        yield live


def test_the_readme_has_examples_for_every_client():
    headings = {param.id.rsplit("-", 1)[0] for param in examples()}
    assert {"raw-wps-curl", "owslib", "ogc-api-processes-curl", "ogc-api-processes-owslib",
            "python-without-a-server"} <= headings, headings


@pytest.mark.parametrize("language, code", examples())
def test_a_readme_example_runs(server, tmp_path, language, code):
    code = code.replace(README_URL, server.base)
    (tmp_path / "data").symlink_to(ROOT / "data")  # examples run from a checkout's folder
    command = ["bash", "-euo", "pipefail", "-c", code] if language == "sh" else [sys.executable, "-c", code]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert not [word for word in FAILURES if word in output], output
    assert done.stdout.strip(), "an example shows its result"
