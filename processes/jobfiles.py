"""Where a job's files live, named by its id (never by anything a request says)."""

import shutil
from pathlib import Path

from pywps import configuration


def job_folder(job_id):
    """The folder of a job's uploaded inputs and work files (removed when the job ends)."""
    return Path(configuration.get_config_value("server", "workdir")) / str(job_id)


def upload_folder(job_id):
    """The folder of a job's uploaded (embedded) inputs: under ``[candela] uploads`` when set,
    a folder every server reads (a job accepted by one server may run on another), else in
    the job's own work folder."""
    shared = configuration.get_config_value("candela", "uploads")
    if shared:
        return Path(shared) / str(job_id)
    return job_folder(job_id) / "inputs"


def remove_work(job_id):
    """Remove a job's work folder and its uploads."""
    shutil.rmtree(job_folder(job_id), ignore_errors=True)
    shutil.rmtree(upload_folder(job_id), ignore_errors=True)


def output_folder(job_id):
    """The folder of a job's published outputs, under ``[server] outputpath``."""
    return Path(configuration.get_config_value("server", "outputpath")) / str(job_id)


def status_document(job_id):
    """Path of a job's status document."""
    return Path(configuration.get_config_value("server", "outputpath")) / f"{job_id}.xml"
