"""Removing old jobs: ended ones go with their files, unfinished ones stay whatever their age."""

import os
import subprocess
import sys
import time
from datetime import datetime, timedelta

import pytest

from candela.jobs.store import FINAL, RUNNING
from helpers.paths import ROOT
from helpers.schemas import assert_valid
from helpers.wps import execute_xml, output_path, post
from processes.cleanup import cleanup
from processes.config import parse_age
from processes.jobcontrol import store_for_config


def wait_final(store, job_id, timeout=60):
    deadline = time.monotonic() + timeout
    while (job := store.get(job_id))["status"] not in FINAL:
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
    return job


def test_cleanup_removes_old_ended_jobs_and_keeps_recent_and_unfinished(wps, product_zip, server_root):
    store = store_for_config()
    xml = execute_xml("Jpeg2Tiff", [("product_ref", f"products/{product_zip.name}"), ("resolution", "60"),
                                    ("bands", "B02")], outputs=[("image", True)], status=True)
    status_file = output_path(assert_valid(post(wps, xml).data).get("statusLocation"), server_root)
    job_id = status_file.stem
    wait_final(store, job_id)
    unfinished = store.submit("NoSuch:Process", {}, job_id="0" * 8 + "-unfinished")
    with store.engine.begin() as db:  # as if a worker held it, without one
        db.exec_driver_sql("UPDATE candela_jobs SET status = 'running', heartbeat = 1e12, host = 'elsewhere' "
                           f"WHERE job_id = '{unfinished}'")

    assert cleanup(timedelta(hours=1))["jobs"] == 0
    assert status_file.exists() and (server_root / "outputs" / job_id).is_dir()

    removed = cleanup(timedelta(hours=1), now=datetime.now() + timedelta(hours=2))
    assert removed["jobs"] >= 1 and removed["outputs"] >= 2
    assert not status_file.exists() and not (server_root / "outputs" / job_id).exists()
    assert store.get(job_id) is None
    assert store.get(unfinished)["status"] == RUNNING, "unfinished jobs stay"
    store.finish(unfinished, "failed", "test over")


@pytest.mark.parametrize("text, expected", [("90s", timedelta(seconds=90)), ("12h", timedelta(hours=12)),
                                            ("7d", timedelta(days=7)), ("1.5m", timedelta(seconds=90))])
def test_parse_age(text, expected):
    assert parse_age(text) == expected


@pytest.mark.parametrize("text", ["7", "d", "-1d", "7 days"])
def test_parse_age_refuses_ambiguous_text(text):
    with pytest.raises(ValueError):
        parse_age(text)


def test_cleanup_command(wps_app, server_root):
    result = subprocess.run([sys.executable, "wsgi.py", "cleanup", "--older-than", "30d"], cwd=ROOT,
                            env={**os.environ, "PYWPS_CFG": str(server_root / "test.cfg")},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "jobs" in result.stdout and "removed" in result.stdout
