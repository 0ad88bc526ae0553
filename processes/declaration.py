"""How an operation is declared: plain data, and one run function over the core.

Each operation is declared once (:class:`Operation`); every protocol binding is generated
from the declaration: the WPS process (:mod:`processes.wps`), its QGIS variant
(:mod:`processes.qgis`) and the OGC API - Processes description (:mod:`processes.ogcapi`).
Nothing here imports a web framework.

Input kinds follow the service's conventions (README, "Processes"): a :class:`FileInput` is a
raster or archive, given by upload or by reference (an http(s) URL or a path under a data
root); a :class:`VectorInput` is a layer of features (GML or GeoJSON); literals are
:class:`LiteralInput` (an optional literal sent empty means "not given").
"""

from dataclasses import dataclass, field
from typing import Callable

GEOTIFF = "image/tiff; subtype=geotiff"
TIFF = "image/tiff"
ZIP = "application/zip"
JSON = "application/json"
PNG = "image/png"
GML = "application/gml+xml"
GEOJSON = "application/geo+json"
GPKG = "application/geopackage+sqlite3"
CSV = "text/csv"

#: Media types, and the extension of the files that hold them.
EXTENSIONS = {GEOTIFF: ".tif", TIFF: ".tif", ZIP: ".zip", JSON: ".json", PNG: ".png", GML: ".gml",
              GEOJSON: ".geojson", GPKG: ".gpkg", CSV: ".csv"}
RASTER = (GEOTIFF, TIFF)
LITERAL_TYPES = ("string", "integer", "float", "boolean")
#: The words a boolean literal is given as, in every protocol.
BOOLEAN_WORDS = {"true": True, "1": True, "false": False, "0": False}


@dataclass(frozen=True)
class LiteralInput:
    """A value typed ``string``, ``integer``, ``float`` or ``boolean``.

    Optional when it has a default, unless ``required`` says otherwise. ``allowed`` lists
    the values admitted; ``minimum``/``maximum`` bound a number.
    """

    identifier: str
    title: str
    abstract: str
    type: str = "string"
    default: object = None
    required: bool = None
    allowed: tuple = ()
    minimum: float = None
    maximum: float = None
    max_occurs: int = 1

    def __post_init__(self):
        if self.type not in LITERAL_TYPES:
            raise ValueError(f"{self.identifier}: type {self.type!r} is not one of {LITERAL_TYPES}")
        if self.required is None:
            object.__setattr__(self, "required", self.default is None)
        if self.allowed and self.default is not None and self.default not in self.allowed:
            raise ValueError(f"{self.identifier}: default {self.default!r} is not among {self.allowed}")


@dataclass(frozen=True)
class FileInput:
    """A raster or an archive: uploaded, or given by reference (URL or data-root path)."""

    identifier: str
    title: str
    abstract: str
    formats: tuple = RASTER
    required: bool = True
    max_occurs: int = 1


@dataclass(frozen=True)
class VectorInput:
    """Features (parcels, areas): GML or GeoJSON, uploaded or by reference."""

    identifier: str
    title: str
    abstract: str
    formats: tuple = (GML, GEOJSON)
    required: bool = True
    max_occurs: int = 1


@dataclass(frozen=True)
class Output:
    """A result: a file (raster, image) or a JSON document.

    A file output's first format is the one it is written in. ``by_reference``: sent as a
    link unless the client asks for it embedded.
    """

    identifier: str
    title: str
    abstract: str
    formats: tuple = (JSON,)
    by_reference: bool = False

    @property
    def file_name(self):
        """The name a JSON output's file takes (``summary.json``); file outputs keep theirs."""
        return self.identifier + EXTENSIONS.get(self.formats[0], "")


def raster_output(identifier, title, abstract):
    return Output(identifier, title, abstract, formats=RASTER, by_reference=True)


def quicklook_output(abstract="PNG preview of the change map (at most 1024 px on its longer side)."):
    return Output("quicklook", "Quicklook", abstract, formats=(PNG,), by_reference=True)


def aoi_input():
    return LiteralInput(
        "aoi", "Area of interest",
        "Rectangle minx,miny,maxx,maxy with an optional CRS as fifth item (default EPSG:4326, "
        "longitude/latitude), e.g. -9.5,52.9,-9.2,53.1 or 500000,5880000,520000,5900000,EPSG:32629. "
        "Empty: the whole product.",
        required=False,
    )


@dataclass(frozen=True)
class Operation:
    """One operation: what it takes and gives, and ``run(job)`` doing it (see
    :class:`processes.job.Job`). ``asynchronous``: it takes minutes, so clients are told to
    run it asynchronously."""

    identifier: str
    title: str
    abstract: str
    version: str
    inputs: tuple
    outputs: tuple
    run: Callable = field(repr=False)
    keywords: tuple = ()

    def __post_init__(self):
        names = [i.identifier for i in (*self.inputs, *self.outputs)]
        duplicated = {n for n in names if names.count(n) > 1}
        if duplicated:
            raise ValueError(f"{self.identifier}: identifiers used twice: {', '.join(sorted(duplicated))}")

    def __deepcopy__(self, memo):
        return self  # immutable: PyWPS deep-copies a process for each request, its declaration stays one

    def input(self, identifier):
        return next(i for i in self.inputs if i.identifier == identifier)

    def output(self, identifier):
        return next(o for o in self.outputs if o.identifier == identifier)
