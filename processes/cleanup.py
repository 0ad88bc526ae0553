"""Removing old jobs: their outputs, status documents, work folders and records."""

import os
import shutil
from datetime import datetime
from pathlib import Path

from pywps import configuration, dblog

from candela.jobs.store import UNFINISHED

from .jobfiles import output_folder, remove_work, status_document
from .jobcontrol import store_for_config


def cleanup(max_age, now=None):
    """Remove outputs, status documents, work folders and records of jobs that ended more than
    ``max_age`` ago, and PyWPS's request log of that age. Unfinished jobs are kept whatever
    their age. Returns how many of each were removed."""
    store = store_for_config()
    now = now or datetime.now()
    cutoff = (now - max_age).timestamp()
    unfinished = {job["job_id"] for job in store.jobs(status=UNFINISHED)}
    removed = {"jobs": store.delete(store.ended_before(cutoff)), "outputs": 0, "workdirs": 0}

    session = dblog.get_session()
    try:
        session.query(dblog.ProcessInstance).filter(dblog.ProcessInstance.time_start < now - max_age).delete(
            synchronize_session=False)
        session.commit()
    finally:
        session.close()

    outputs = Path(configuration.get_config_value("server", "outputpath"))
    removed["outputs"] = _remove_older(outputs, cutoff, keep=unfinished)
    workdir = Path(configuration.get_config_value("server", "workdir"))
    removed["workdirs"] = _remove_older(workdir, cutoff, keep=unfinished)
    uploads = configuration.get_config_value("candela", "uploads")
    if uploads:  # a shared folder of uploads: its jobs' folders age like work folders
        removed["workdirs"] += _remove_older(Path(uploads), cutoff, keep=unfinished)
    return removed


def remove_job(job_id):
    """Remove one job that has ended: its record, outputs, status document and work folder.
    False (and nothing removed) when it has not ended."""
    if not store_for_config().delete([job_id]):
        return False
    shutil.rmtree(output_folder(job_id), ignore_errors=True)
    status_document(job_id).unlink(missing_ok=True)
    remove_work(job_id)
    return True


def _remove_older(folder, cutoff_epoch, keep=()):
    count = 0
    if not folder.is_dir():
        return 0
    for entry in folder.iterdir():
        if entry.name.split(".")[0] in keep or _newest_mtime(entry) >= cutoff_epoch:
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
