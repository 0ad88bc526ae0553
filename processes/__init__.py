"""The PyWPS processes served by this server (thin wrappers around the ``candela`` package)."""

from . import pywps_fixes

pywps_fixes.apply()

from .extractinfo import ExtractInfo  # noqa: E402  (the fixes must be in place first)
from .jpeg2tiff import Jpeg2Tiff  # noqa: E402

processes = [
    Jpeg2Tiff(),
    ExtractInfo(),
]
