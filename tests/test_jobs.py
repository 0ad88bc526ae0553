"""Job hygiene: dead workers are reported failed; cleanup removes old jobs only."""

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta

import pytest
from pywps import Service, dblog
from pywps.response.status import WPS_STATUS
from pywps.tests import client_for

from processes.base import CandelaProcess
from processes.jobs import cleanup, parse_age, reap_dead_jobs
from processes.wpsio import json_output, literal
from test_wps import NS, execute_xml, output_path, post
from wpsschema import assert_valid


class DyingWorker(CandelaProcess):
    """A process whose worker is killed, as by the OOM killer."""

    IDENTIFIER, TITLE, ABSTRACT, VERSION = "DyingWorker", "Dies", "Kills its own worker.", "1.0.0"

    def inputs_(self):
        return [literal("how", "How", "kill or finish", default="kill")]

    def outputs_(self):
        return [json_output("result", "Result", "Nothing")]

    def run(self, job):
        if job.literal("how") == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        job.output_json("result", {"done": True})


def status_of(uuid):
    session = dblog.get_session()
    try:
        return session.query(dblog.ProcessInstance).filter_by(uuid=uuid).one().status
    finally:
        session.close()


def test_a_dead_worker_is_reported_failed_to_the_polling_client(wps_app, wps, server_root):
    dying = client_for(Service([DyingWorker()]))
    doc = assert_valid(post(dying, execute_xml("DyingWorker", [("how", "kill")], outputs=[("result", False)],
                                               status=True)).data)
    location = doc.get("statusLocation")
    uuid = location.rsplit("/", 1)[1][:-4]
    deadline = time.monotonic() + 30
    while status_of(uuid) != WPS_STATUS.STARTED and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    answer = wps.get("/outputs/" + location.rsplit("/", 1)[1])
    status = assert_valid(answer.data)
    assert status.xpath("//wps:ProcessFailed", namespaces=NS), answer.data
    assert status_of(uuid) == WPS_STATUS.FAILED
    assert reap_dead_jobs() == []


def test_a_live_worker_is_not_reaped(wps_app):
    session = dblog.get_session()
    session.add(dblog.ProcessInstance(uuid="live-job", pid=os.getpid(), operation="execute", version="1.0.0",
                                      time_start=datetime.now(), identifier="X", status=WPS_STATUS.STARTED))
    session.commit()
    session.close()
    assert "live-job" not in reap_dead_jobs()
    assert status_of("live-job") == WPS_STATUS.STARTED


def test_cleanup_removes_old_finished_jobs_and_keeps_recent_and_running(wps_app, wps, server_root):
    finisher = client_for(Service([DyingWorker()]))
    doc = assert_valid(post(finisher, execute_xml("DyingWorker", [("how", "finish")], outputs=[("result", False)],
                                                  status=True)).data)
    status_file = output_path(doc.get("statusLocation"), server_root)
    uuid = status_file.stem
    deadline = time.monotonic() + 30
    while status_of(uuid) != WPS_STATUS.SUCCEEDED and time.monotonic() < deadline:
        time.sleep(0.1)

    assert cleanup(timedelta(hours=1))["jobs"] == 0
    assert status_file.exists()

    removed = cleanup(timedelta(hours=1), now=datetime.now() + timedelta(hours=2))
    assert removed["jobs"] >= 1 and removed["outputs"] >= 1
    assert not status_file.exists()
    session = dblog.get_session()
    assert session.query(dblog.ProcessInstance).filter_by(uuid=uuid).count() == 0
    assert session.query(dblog.ProcessInstance).filter_by(uuid="live-job").count() == 1, "running jobs stay"
    session.close()


@pytest.mark.parametrize("text, expected", [("90s", timedelta(seconds=90)), ("12h", timedelta(hours=12)),
                                            ("7d", timedelta(days=7)), ("1.5m", timedelta(seconds=90))])
def test_parse_age(text, expected):
    assert parse_age(text) == expected


@pytest.mark.parametrize("text", ["7", "d", "-1d", "7 days"])
def test_parse_age_refuses_ambiguous_text(text):
    with pytest.raises(ValueError):
        parse_age(text)


def test_cleanup_command(wps_app, server_root):
    from conftest import ROOT

    config = server_root / "test.cfg"
    result = subprocess.run([sys.executable, "wsgi.py", "cleanup", "--older-than", "30d"], cwd=ROOT,
                            env={**os.environ, "PYWPS_CFG": str(config)}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "jobs" in result.stdout and "removed" in result.stdout


def test_status_documents_are_replaced_whole(tmp_path, monkeypatch):
    """A client polling while PyWPS rewrites a status document must read the old or the new
    document, never half of one: the new one is written aside and renamed over the old."""
    import processes  # noqa: F401  (applies the fixes)
    from pywps.inout.storage.file import FileStorage

    storage = FileStorage.__new__(FileStorage)
    storage.target = str(tmp_path)
    storage.output_url = "http://127.0.0.1:5000/outputs/"
    (tmp_path / "status.xml").write_text("<old/>")
    seen = []
    real_replace = os.replace

    def replace(source, destination):
        seen.append(((tmp_path / "status.xml").read_text(), open(source).read()))
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", replace)
    storage.write("<new/>", "status.xml")
    assert seen == [("<old/>", "<new/>")]
    assert (tmp_path / "status.xml").read_text() == "<new/>"
    assert [p.name for p in tmp_path.iterdir()] == ["status.xml"]
