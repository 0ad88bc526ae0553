"""A Python client of a CANDELA server, for notebooks and scripts: ``Client(url)``.

It speaks OGC API - Processes (``/ogcapi``); processes are methods generated from the server's
descriptions (``client.change_detect(before=..., after=...)``), jobs run asynchronously with a
progress bar, and outputs download to a folder and open on demand. Needs only ``requests``
(and ``tqdm`` for progress bars, ``rasterio`` to open rasters).
"""

from .client import Client
from .errors import ServerError
from .jobs import Job, Output

__all__ = ["Client", "Job", "Output", "ServerError"]
