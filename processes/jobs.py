"""Job hygiene PyWPS leaves undone: reporting dead workers, and removing old jobs.

PyWPS notices a crashed job only when the server is full, and never tells the client:
its status document keeps saying "started". :func:`reap_dead_jobs` marks such jobs failed
in the job database and in their status document. :func:`cleanup` removes outputs, status
documents, work folders and job rows older than a given age.
"""

import logging
import os
import re
import shutil
import time
from datetime import datetime, timedelta
from pathlib import Path

from lxml import etree
from pywps import configuration, dblog
from pywps.response.status import WPS_STATUS

from candela.sentinel2 import xml_parser

LOGGER = logging.getLogger("PYWPS")

WPS_NS = "http://www.opengis.net/wps/1.0.0"
OWS_NS = "http://www.opengis.net/ows/1.1"
DEAD_WORKER_MESSAGE = "The worker running this job stopped unexpectedly; the job has failed."
UNFINISHED = (WPS_STATUS.ACCEPTED, WPS_STATUS.STARTED, WPS_STATUS.PAUSED)
AGE_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def pid_alive(pid):
    """Whether a process with this pid runs (a zombie counts as dead)."""
    try:
        with open(f"/proc/{int(pid)}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError, IndexError):
        return False
    return state not in ("Z", "X")


def status_document(uuid):
    """Path of a job's status document."""
    return Path(configuration.get_config_value("server", "outputpath")) / f"{uuid}.xml"


def reap_dead_jobs(uuid=None):
    """Mark unfinished jobs whose worker process is gone as failed; return their uuids.

    Queued jobs (stored, not yet started) have no worker and are left alone.
    """
    session = dblog.get_session()
    try:
        stored = session.query(dblog.RequestInstance.uuid)
        query = (
            session.query(dblog.ProcessInstance)
            .filter(dblog.ProcessInstance.operation == "execute")
            .filter(dblog.ProcessInstance.status.in_(UNFINISHED))
            .filter(~dblog.ProcessInstance.uuid.in_(stored))
        )
        if uuid is not None:
            query = query.filter(dblog.ProcessInstance.uuid == str(uuid))
        dead = [job.uuid for job in query if not pid_alive(job.pid)]
    finally:
        session.close()
    for job_uuid in dead:
        LOGGER.warning("Job %s: worker process is gone, marking it failed", job_uuid)
        dblog.store_status(job_uuid, WPS_STATUS.FAILED, DEAD_WORKER_MESSAGE, 100)
        mark_status_document_failed(status_document(job_uuid), DEAD_WORKER_MESSAGE)
    return dead


def mark_status_document_failed(path, message):
    """Rewrite a status document's wps:Status as ProcessFailed (atomically)."""
    if not path.is_file():
        return
    tree = etree.parse(str(path), xml_parser())
    status = tree.find(f"{{{WPS_NS}}}Status")
    if status is None:
        return
    for child in list(status):
        status.remove(child)
    status.set("creationTime", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    failed = etree.SubElement(status, f"{{{WPS_NS}}}ProcessFailed")
    report = etree.SubElement(failed, f"{{{OWS_NS}}}ExceptionReport", version="1.0.0")
    exception = etree.SubElement(report, f"{{{OWS_NS}}}Exception", exceptionCode="NoApplicableCode")
    etree.SubElement(exception, f"{{{OWS_NS}}}ExceptionText").text = message
    partial = path.with_suffix(".xml.tmp")
    tree.write(str(partial), xml_declaration=True, encoding="UTF-8")
    os.replace(partial, path)


def parse_age(text):
    """Parse an age such as ``90s``, ``30m``, ``12h`` or ``7d`` into a timedelta."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", str(text))
    if not match:
        raise ValueError(f"invalid age {text!r}: use a number followed by s, m, h or d, e.g. 7d")
    number, unit = float(match.group(1)), match.group(2)
    return timedelta(**{AGE_UNITS[unit]: number})


def cleanup(max_age, now=None):
    """Remove outputs, status documents, work folders and finished job rows older than ``max_age``.

    Returns how many of each were removed. Unfinished jobs are reaped first if their worker
    died; jobs still running are kept whatever their age.
    """
    reap_dead_jobs()
    now = now or datetime.now()
    cutoff = now - max_age
    cutoff_epoch = cutoff.timestamp()
    removed = {"jobs": 0, "outputs": 0, "workdirs": 0}

    session = dblog.get_session()
    try:
        old = session.query(dblog.ProcessInstance).filter(dblog.ProcessInstance.time_start < cutoff).all()
        running = {j.uuid for j in old if j.status in UNFINISHED}
        finished = [j.uuid for j in old if j.status not in UNFINISHED]
        if finished:
            session.query(dblog.RequestInstance).filter(dblog.RequestInstance.uuid.in_(finished)).delete(
                synchronize_session=False
            )
            session.query(dblog.ProcessInstance).filter(dblog.ProcessInstance.uuid.in_(finished)).delete(
                synchronize_session=False
            )
            session.commit()
        removed["jobs"] = len(finished)
    finally:
        session.close()

    outputs = Path(configuration.get_config_value("server", "outputpath"))
    removed["outputs"] = _remove_older(outputs, cutoff_epoch, keep=running)
    workdir = Path(configuration.get_config_value("server", "workdir"))
    removed["workdirs"] = _remove_older(workdir, cutoff_epoch, keep=running, prefix="pywps_process_")
    return removed


def _remove_older(folder, cutoff_epoch, keep=(), prefix=""):
    count = 0
    if not folder.is_dir():
        return 0
    for entry in folder.iterdir():
        if not entry.name.startswith(prefix) or entry.name.split(".")[0] in keep:
            continue
        if _newest_mtime(entry) >= cutoff_epoch:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        count += 1
    return count


def _newest_mtime(path):
    newest = path.lstat().st_mtime
    if path.is_dir() and not path.is_symlink():
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                try:
                    newest = max(newest, os.lstat(os.path.join(root, name)).st_mtime)
                except OSError:
                    pass
    return newest
