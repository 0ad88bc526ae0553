"""A Python client of a processing server, for notebooks and scripts: ``Client(url)``.

It speaks OGC API - Processes where the server offers it (``/ogcapi``), WPS 1.0.0 otherwise,
behind one interface; processes are methods generated from the server's descriptions
(``client.change_detect(before=..., after=...)``), jobs run asynchronously with a progress
bar, and outputs download to a folder and open on demand. Needs ``requests`` and ``lxml``;
``tqdm`` shows progress bars, ``rasterio`` opens rasters, ``rioxarray`` opens them as xarray,
``geopandas`` opens vectors, IPython shows PNG images inline.

Modules: :mod:`.client` (``Client``, choosing the protocol), :mod:`.descriptions` (processes
and their inputs), :mod:`.ogcapi` and :mod:`.wps` (the two protocols; WPS documents in
:mod:`.wpsxml`), :mod:`.inputs` (uploads and references), :mod:`.jobs`, :mod:`.outputs`,
:mod:`.errors`.
"""

from .client import Client
from .descriptions import OutputSpec, Parameter, Process
from .errors import ServerError
from .jobs import Job
from .outputs import Output

__all__ = ["Client", "Job", "Output", "OutputSpec", "Parameter", "Process", "ServerError"]
