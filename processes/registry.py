"""The operations this server offers, and their bindings per protocol profile.

One list of declarations (:data:`OPERATIONS`); each profile generates its processes from it:
``wps`` (:mod:`processes.wps`) and ``qgis`` (:mod:`processes.qgis`); OGC API - Processes
describes the same operations (:mod:`processes.ogcapi`). A job records which binding runs it
(:func:`process_key`), so a worker builds the same one (:func:`load_process`).
"""

import importlib
from urllib.parse import urlsplit, urlunsplit

from pywps import configuration

from .changedetect import OPERATION as CHANGE_DETECT
from .extractinfo import OPERATION as EXTRACT_INFO
from .fusionclassify import OPERATION as FUSION_CLASSIFY
from .jpeg2tiff import OPERATION as JPEG2TIFF
from .parceldamage import OPERATION as PARCEL_DAMAGE
from .qgis import QgisProcess
from .sarchangedetect import OPERATION as SAR_CHANGE_DETECT
from .semanticsearch import OPERATION as SEMANTIC_SEARCH
from .trainautoencoder import OPERATION as TRAIN_AUTOENCODER
from .wps import WpsProcess

OPERATIONS = (JPEG2TIFF, EXTRACT_INFO, CHANGE_DETECT, TRAIN_AUTOENCODER, SAR_CHANGE_DETECT, FUSION_CLASSIFY,
              PARCEL_DAMAGE, SEMANTIC_SEARCH)
PROFILES = {WpsProcess.binding: WpsProcess, QgisProcess.binding: QgisProcess}


def processes(profile, operations=OPERATIONS):
    """The PyWPS processes of ``profile`` for ``operations``."""
    return [PROFILES[profile](operation) for operation in operations]


def operation_path(operation):
    """Where a worker finds a declaration: ``module:NAME`` (a module-level name of it)."""
    module = importlib.import_module(operation.run.__module__)
    for name, value in vars(module).items():
        if value is operation:
            return f"{module.__name__}:{name}"
    raise LookupError(f"{operation.identifier} is not a module-level name of {module.__name__}, "
                      "beside its run function")


def process_key(process):
    """What a job records to be run by the same binding: ``profile:module:NAME``."""
    return f"{process.binding}:{operation_path(process.operation)}"


def load_operation(path):
    """The declaration at :func:`operation_path` ``path``."""
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def load_process(key):
    """The process of :func:`process_key` ``key``, built afresh."""
    profile, path = key.split(":", 1)
    return PROFILES[profile](load_operation(path))


def service_url(binding):
    """The public address of a binding's service: ``[server] url`` for WPS, the QGIS profile
    beside it (``http://host/wps`` → ``http://host/qgis/wps``)."""
    path = PROFILES[binding].url_path
    return sibling_url(path) if path else configuration.get_config_value("server", "url")


def sibling_url(path):
    """``path`` beside the WPS service: in the folder of ``[server] url`` (the application's
    root: ``http://host/wps``, ``http://host/wps/`` and ``http://host`` → ``http://host/``)."""
    parts = urlsplit(configuration.get_config_value("server", "url"))
    folder = parts.path.rstrip("/").rsplit("/", 1)[0] + "/"
    return urlunsplit(parts._replace(path=folder + path, query="", fragment=""))
