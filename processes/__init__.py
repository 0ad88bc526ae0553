"""The PyWPS processes served by this server (thin wrappers around the ``candela`` package)."""

import os

if not os.environ.get("PYWPS_CFG", "x"):
    del os.environ["PYWPS_CFG"]  # PyWPS crashes on import when it is set but empty

from . import config  # noqa: E402,F401  (before PyWPS is imported: it quiets PyWPS's notes on relative folders)
from . import pywps_fixes  # noqa: E402

pywps_fixes.apply()

from .changedetect import ChangeDetect  # noqa: E402  (the fixes must be in place first)
from .extractinfo import ExtractInfo  # noqa: E402
from .jpeg2tiff import Jpeg2Tiff  # noqa: E402
from .sarchangedetect import SARChangeDetect  # noqa: E402
from .trainautoencoder import TrainAutoencoder  # noqa: E402

processes = [
    Jpeg2Tiff(),
    ExtractInfo(),
    ChangeDetect(),
    TrainAutoencoder(),
    SARChangeDetect(),
]
