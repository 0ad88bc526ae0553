"""Input and output declarations shared by our processes.

Conventions every process follows (DEVELOPERS.md): raster and archive inputs also accept a
literal ``<identifier>_ref`` (an http(s) URL or a path under a data root) because the QGIS
plugin sends only vector layers as complex inputs; optional literals sent empty mean "not
given"; an area of interest is the literal ``minx,miny,maxx,maxy[,crs]``; unconstrained
literals advertise ``ows:AnyValue`` (required by the schema); raster outputs go by reference.
"""

from pywps import ComplexInput, ComplexOutput, Format, LiteralInput
from pywps.inout.literaltypes import AnyValue

GEOTIFF = Format("image/tiff; subtype=geotiff", extension=".tif")
TIFF = Format("image/tiff", extension=".tif")
ZIP = Format("application/zip", extension=".zip")
JSON = Format("application/json", extension=".json")
PNG = Format("image/png", extension=".png")
RASTER_FORMATS = (GEOTIFF, TIFF)
REF_SUFFIX = "_ref"


def is_blank(value):
    """Whether a literal's value means "not given": None, empty or blank text, or "None"."""
    return value is None or str(value).strip() in ("", "None")


def literal(identifier, title, abstract, data_type="string", default=None, optional=None,
            allowed_values=None, max_occurs=1):
    """A literal input; optional when it has a default unless said otherwise."""
    if optional is None:
        optional = default is not None
    return LiteralInput(
        identifier, title, abstract=abstract, data_type=data_type, default=default,
        min_occurs=0 if optional else 1, max_occurs=max_occurs,
        allowed_values=allowed_values if allowed_values is not None else AnyValue(),
    )


def referenced(complex_input, what):
    """The complex input and its literal ``<identifier>_ref`` twin, both optional."""
    ref = literal(
        complex_input.identifier + REF_SUFFIX,
        f"{complex_input.title} (reference)",
        f"{what} given by reference instead of upload: an http(s) URL, or a path under one of the "
        f"server's data roots. Use either '{complex_input.identifier}' or this input.",
        optional=True, max_occurs=complex_input.max_occurs,
    )
    return [complex_input, ref]


def product_input(identifier, title, abstract, max_occurs=1, rasters_too=False):
    """A zipped Sentinel product (upload or reference), plus its ``_ref`` literal."""
    formats = [ZIP, *RASTER_FORMATS] if rasters_too else [ZIP]
    product = ComplexInput(identifier, title, abstract=abstract, supported_formats=formats,
                           min_occurs=0, max_occurs=max_occurs)
    return referenced(product, "Product or raster" if rasters_too else "Zipped SAFE product")


def raster_input(identifier, title, abstract, min_occurs=0, max_occurs=1):
    """A GeoTIFF input (upload or reference), plus its ``_ref`` literal."""
    raster = ComplexInput(identifier, title, abstract=abstract, supported_formats=list(RASTER_FORMATS),
                          min_occurs=min_occurs, max_occurs=max_occurs)
    return referenced(raster, "Raster")


def aoi_input():
    return literal(
        "aoi", "Area of interest",
        "Rectangle minx,miny,maxx,maxy with an optional CRS as fifth item (default EPSG:4326, "
        "longitude/latitude), e.g. -9.5,52.9,-9.2,53.1 or 500000,5880000,520000,5900000,EPSG:32629. "
        "Empty: the whole product.",
        optional=True,
    )


def raster_output(identifier, title, abstract):
    return ComplexOutput(identifier, title, abstract=abstract, supported_formats=list(RASTER_FORMATS),
                         as_reference=True)


def json_output(identifier, title, abstract):
    return ComplexOutput(identifier, title, abstract=abstract, supported_formats=[JSON])


def quicklook_output(identifier="quicklook", title="Quicklook",
                     abstract="PNG preview of the change map (at most 1024 px on its longer side)."):
    return ComplexOutput(identifier, title, abstract=abstract, supported_formats=[PNG], as_reference=True)
