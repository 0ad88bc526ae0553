"""The PyWPS processes served by this server (thin wrappers around the ``candela`` package)."""

from . import pywps_fixes

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
