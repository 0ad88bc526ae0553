"""The operations this server offers (:mod:`processes.registry`), and their WPS, QGIS and
OGC API - Processes bindings, over the ``candela`` core."""

import os

if not os.environ.get("PYWPS_CFG", "x"):
    del os.environ["PYWPS_CFG"]  # PyWPS crashes on import when it is set but empty

from . import config  # noqa: E402,F401  (before PyWPS is imported: it quiets PyWPS's notes on relative folders)
from . import pywps_fixes  # noqa: E402

pywps_fixes.apply()
