"""A job's limits, read from the configuration (``[server]`` and ``[candela]``) for the core.

A key absent or left empty takes the core's default, which ``defaults.cfg`` documents.
"""

from pywps import configuration

from candela.rasters.reading import MAX_PIXELS
from candela.references.download import FetchPolicy
from candela.references.hosts import HostPolicy
from candela.safe import archive

from . import config


def _setting(key, parse, default):
    """``[candela] key`` parsed, or ``default`` when absent or empty."""
    text = config.option(key)
    return default if text is None else parse(text)


def _bytes(text):
    """A size with PyWPS's units (``500mb``, ``4gb``) in bytes."""
    return int(configuration.get_size_mb(text) * 1024**2)


def max_input_mb():
    return configuration.get_size_mb(configuration.get_config_value("server", "maxsingleinputsize"))


def max_input_bytes():
    return _bytes(configuration.get_config_value("server", "maxsingleinputsize"))


def max_request_bytes():
    """The largest Execute request body, ``[server] maxrequestsize``."""
    return _bytes(configuration.get_config_value("server", "maxrequestsize"))


#: Default of ``[candela] maxembedded``.
MAX_EMBEDDED = 10 * 1024**2


def max_embedded_bytes():
    """The largest complex output embedded in an Execute response (``asReference=false``),
    ``[candela] maxembedded``; larger ones must be asked for as references."""
    return _setting("maxembedded", _bytes, MAX_EMBEDDED)


def fetch_policy():
    """A new FetchPolicy: create one per job, since its download budget spans the whole job."""
    default = FetchPolicy()
    return FetchPolicy(
        hosts=HostPolicy.parse(_setting("allowedhosts", str, "")),
        max_bytes=max_input_bytes(),
        max_total=_setting("maxdownload", _bytes, default.max_total),
        max_ratio=_setting("maxratio", float, default.max_ratio),
        deadline=_setting("fetchdeadline", float, default.deadline),
    )


def archive_limits():
    """Keyword arguments of ``candela.safe.archive.extract_zip`` (and ``sentinel2.open_product``)."""
    return dict(
        max_total_bytes=_setting("maxextracted", _bytes, archive.MAX_BYTES),
        max_members=_setting("maxmembers", int, archive.MAX_MEMBERS),
        max_ratio=_setting("maxratio", float, archive.MAX_RATIO),
    )


def max_pixels():
    """Most pixels (width x height x bands) an input raster may have."""
    return _setting("maxpixels", int, MAX_PIXELS)


def sparql_limits():
    """Keyword arguments of :func:`processes.bounded.run_forked` for one SPARQL query:
    ``[candela] sparqltime``, ``sparqlanswer`` and ``sparqlmemory``."""
    return dict(seconds=config.seconds("sparqltime", "30s"),
                max_bytes=_setting("sparqlanswer", _bytes, 64 * 1024**2),
                memory_bytes=_setting("sparqlmemory", _bytes, 2 * 1024**3))
