"""Where a job's files live, named by its id (never by anything a request says)."""

from pathlib import Path

from pywps import configuration


def job_folder(job_id):
    """The folder of a job's uploaded inputs and work files (removed when the job ends)."""
    return Path(configuration.get_config_value("server", "workdir")) / str(job_id)


def output_folder(job_id):
    """The folder of a job's published outputs, under ``[server] outputpath``."""
    return Path(configuration.get_config_value("server", "outputpath")) / str(job_id)


def status_document(job_id):
    """Path of a job's status document."""
    return Path(configuration.get_config_value("server", "outputpath")) / f"{job_id}.xml"
