"""Sentinel-1 GRD products: what their metadata say, and where their measurements are.

A product is a zipped SAFE or a ``.SAFE`` folder, read through :mod:`candela.safe.container`
(a zip is never extracted: its XML members are read with ``zipfile`` and its measurement
rasters through GDAL's ``/vsizip/``). Its metadata come from the per-polarisation XML files
under ``annotation/`` (image size, geolocation grid), ``annotation/calibration/
calibration-*.xml`` (the sigma nought LUT) and ``annotation/calibration/noise-*.xml`` (the
thermal noise LUTs), parsed by :func:`candela.safe.xml.parse_xml`. Calibration and geocoding
are in :mod:`candela.conversion`.
"""

import re
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath

import numpy as np
import rasterio
from lxml import etree
from rasterio.control import GroundControlPoint
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.warp import transform as warp_transform
from shapely.geometry import Polygon

from ..errors import InputError
from ..rasters.dating import parse_time
from ..rasters.reading import MAX_PIXELS, check_pixels
from .archive import is_zip
from .container import Kind, open_safe
from .xml import parse_xml

#: Polarisations handled, in output band order.
POLARISATIONS = ("VV", "VH")
#: Sentinel-1 products are marked by their manifest.
SENTINEL1 = Kind("Sentinel-1 GRD product", "manifest.safe", re.compile(r"manifest\.safe"))
#: Annotation file names: mission, swath, product type, polarisation.
ANNOTATION = re.compile(
    r"^(s1[a-d])-([a-z0-9]+)-(grd|slc|ocn)-(hh|hv|vv|vh)-[0-9a-z-]+\.xml$", re.IGNORECASE)


@dataclass(frozen=True)
class Vectors:
    """A LUT annotated on vectors: ``values[i]`` at ``pixels[i]`` along line ``lines[i]``."""

    lines: np.ndarray
    pixels: tuple
    values: tuple


@dataclass(frozen=True)
class AzimuthBlock:
    """A noise azimuth vector: a factor along lines over a rectangle of lines and pixels."""

    swath: str
    first_line: int
    last_line: int
    first_pixel: int
    last_pixel: int
    lines: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class GeolocationGrid:
    """The annotation's geolocation grid: arrays of shape (len(lines), len(pixels))."""

    lines: np.ndarray
    pixels: np.ndarray
    longitude: np.ndarray
    latitude: np.ndarray
    height: np.ndarray


@dataclass
class Measurement:
    """One polarisation of a product: its raster and what its annotation files say."""

    polarisation: str
    width: int
    height: int
    path: str
    annotation: str
    calibration: Vectors
    noise_range: Vectors
    noise_azimuth: tuple
    grid: GeolocationGrid
    pixel_spacing: tuple

    @property
    def gcps(self):
        """The geolocation grid as ground control points in lon/lat (see :func:`grid_gcps`)."""
        return grid_gcps(self.grid)


@dataclass
class S1Product:
    """A Sentinel-1 GRD product: what its metadata say, and where its measurements are."""

    path: Path
    product_id: str
    mission: str
    mode: str
    product_type: str
    polarisations: tuple
    start_time: datetime
    stop_time: datetime
    pass_direction: str
    ipf_version: str
    measurements: dict = field(repr=False)

    @property
    def width(self):
        """Pixels per line of the (VV) measurement."""
        return self.measurements[self.polarisations[0]].width

    @property
    def height(self):
        """Lines of the (VV) measurement."""
        return self.measurements[self.polarisations[0]].height

    def measurement(self, polarisation):
        """The :class:`Measurement` of ``polarisation`` (``"VV"`` or ``"VH"``), or raise InputError."""
        name = str(polarisation).strip().upper()
        if name not in self.measurements:
            raise InputError(f"the product has no {name[:10]} measurement (it has {', '.join(self.polarisations)})")
        return self.measurements[name]


def read_product(path, require_measurements=True, max_pixels=MAX_PIXELS):
    """Read a Sentinel-1 GRD product from a zipped SAFE, a .SAFE folder or a folder holding one.

    With ``require_measurements`` (the default), every polarisation's measurement raster must
    be present and of its annotated size; without it, metadata alone are read and a missing
    raster's ``path`` is None. A product whose measurements have more than ``max_pixels`` in
    all (width x height x polarisations) is refused.
    """
    path = Path(path)
    if path.is_file() and path.name == "manifest.safe":
        path = path.parent
    if path.is_file():
        if not is_zip(path):
            raise InputError("not a Sentinel-1 GRD product (a zipped SAFE or a .SAFE folder was expected)")
    elif not path.is_dir():
        raise InputError("not a Sentinel-1 GRD product (no such file or folder)")
    with open_safe(path, SENTINEL1) as safe:
        return _product(safe, require_measurements, max_pixels)


def footprint(product):
    """The product's footprint (lon/lat polygon) from the edge of its geolocation grid.

    Across the antimeridian, longitudes west of it are given + 360 so the polygon stays whole.
    """
    grid = product.measurements[product.polarisations[0]].grid
    lon, lat = _unwrapped(grid.longitude), grid.latitude
    ring = [(lon[0, j], lat[0, j]) for j in range(lon.shape[1])]
    ring += [(lon[i, -1], lat[i, -1]) for i in range(1, lon.shape[0])]
    ring += [(lon[-1, j], lat[-1, j]) for j in range(lon.shape[1] - 2, -1, -1)]
    ring += [(lon[i, 0], lat[i, 0]) for i in range(lon.shape[0] - 2, 0, -1)]
    polygon = Polygon([(float(x), float(y)) for x, y in ring])
    return polygon if polygon.is_valid else polygon.buffer(0)


def _unwrapped(longitude):
    """Longitudes made continuous across the antimeridian (west of it + 360)."""
    longitude = np.asarray(longitude, dtype=np.float64)
    if longitude.max() - longitude.min() > 180.0:
        longitude = np.where(longitude < 0, longitude + 360.0, longitude)
    return longitude


def _product(safe, require_measurements, max_pixels):
    """Build an :class:`S1Product` from ``safe`` (a container from :func:`~candela.safe.container.open_safe`)."""
    product_id = re.sub(r"\.SAFE$", "", safe.name, flags=re.IGNORECASE)
    files = safe.files
    annotations = {}
    for name in files:
        parts = name.split("/")
        match = ANNOTATION.match(parts[-1]) if len(parts) == 2 and parts[0] == "annotation" else None
        if match:
            annotations.setdefault(match.group(4).upper(), []).append((name, match))
    if not annotations:
        if any(PurePosixPath(n).name.startswith("MTD_MSI") for n in files):
            raise InputError("not a Sentinel-1 GRD product (it is a Sentinel-2 product)")
        raise InputError("not a Sentinel-1 GRD product (no annotation/s1*.xml files)")
    kinds = {m.group(3).upper() for entries in annotations.values() for _, m in entries}
    if kinds != {"GRD"}:
        raise InputError(f"not a Sentinel-1 GRD product (it is a {'/'.join(sorted(kinds))} product)")
    if "VV" not in annotations:
        raise InputError(
            f"the product has no VV measurement (it has {', '.join(sorted(annotations))}):"
            " only VV and VV+VH products are supported")
    present = set(files)
    measurements, times = {}, []
    for polarisation in POLARISATIONS:
        if polarisation not in annotations:
            continue
        if len(annotations[polarisation]) > 1:
            raise InputError(f"the product has several {polarisation} annotation files (one swath was expected)")
        name, _ = annotations[polarisation][0]
        root = parse_xml(safe.read(name), PurePosixPath(name).name)
        product_type = _text(root, "adsHeader/productType")
        if product_type != "GRD":
            raise InputError(f"not a Sentinel-1 GRD product (its annotation says {str(product_type)[:10]})")
        if polarisation == "VV":
            header = root
        times.append(_times(root))
        measurements[polarisation] = _measurement(
            polarisation, name, root, present, safe, require_measurements)
    check_pixels(max(m.width for m in measurements.values()), max(m.height for m in measurements.values()),
                         len(measurements), max_pixels, what="the product (its measurements)")
    mission = _text(header, "adsHeader/missionId") or product_id[:3]
    mode = _text(header, "adsHeader/mode") or ""
    manifest = safe.read("manifest.safe") if "manifest.safe" in present else None
    return S1Product(
        path=safe.path,
        product_id=product_id,
        mission=mission,
        mode=mode,
        product_type="GRD",
        polarisations=tuple(p for p in POLARISATIONS if p in measurements),
        start_time=min(t[0] for t in times),
        stop_time=max(t[1] for t in times),
        pass_direction=(_text(header, "generalAnnotation/productInformation/pass") or "").upper(),
        ipf_version=_ipf_version(manifest),
        measurements=measurements,
    )


def _measurement(polarisation, annotation, root, present, safe, require_measurements):
    """One polarisation's measurement, from its parsed annotation (``root``), calibration and noise files."""
    stem = PurePosixPath(annotation).stem
    calibration_name = f"annotation/calibration/calibration-{stem}.xml"
    noise_name = f"annotation/calibration/noise-{stem}.xml"
    for name, what in ((calibration_name, "calibration"), (noise_name, "noise")):
        if name not in present:
            raise InputError(f"the product has no {what} annotation for {polarisation} ({PurePosixPath(name).name})")
    width = _integer(root, "imageAnnotation/imageInformation/numberOfSamples")
    height = _integer(root, "imageAnnotation/imageInformation/numberOfLines")
    if width <= 0 or height <= 0:
        raise InputError(f"the {polarisation} annotation gives an empty image")
    spacing = (_number(root, "imageAnnotation/imageInformation/rangePixelSpacing"),
               _number(root, "imageAnnotation/imageInformation/azimuthPixelSpacing"))
    grid = geolocation_grid(root, polarisation)
    calibration = _vectors(
        parse_xml(safe.read(calibration_name), PurePosixPath(calibration_name).name),
        "calibrationVectorList/calibrationVector", "sigmaNought", f"{polarisation} calibration")
    noise_root = parse_xml(safe.read(noise_name), PurePosixPath(noise_name).name)
    if noise_root.find("noiseRangeVectorList") is not None:
        noise_range = _vectors(noise_root, "noiseRangeVectorList/noiseRangeVector", "noiseRangeLut",
                               f"{polarisation} noise")
    else:
        # Before IPF 2.9: one noise LUT along range, no azimuth vector.
        noise_range = _vectors(noise_root, "noiseVectorList/noiseVector", "noiseLut", f"{polarisation} noise")
    raster = f"measurement/{stem}.tiff"
    path = safe.raster_path(raster) if raster in present else None
    if path is None and require_measurements:
        raise InputError(f"the {polarisation} measurement raster is missing from the product (measurement/{stem}.tiff)")
    if path is not None and require_measurements:
        _check_raster(path, polarisation, width, height)
    return Measurement(
        polarisation=polarisation,
        width=width,
        height=height,
        path=path,
        annotation=annotation,
        calibration=calibration,
        noise_range=noise_range,
        noise_azimuth=_azimuth_blocks(noise_root, polarisation),
        grid=grid,
        pixel_spacing=spacing,
    )


def _check_raster(path, polarisation, width, height):
    try:
        with _open_raster(path) as dataset:
            size, count, dtype = (dataset.width, dataset.height), dataset.count, dataset.dtypes[0]
    except RasterioError:
        raise InputError(f"the {polarisation} measurement raster cannot be read") from None
    if size != (width, height) or count != 1:
        raise InputError(
            f"the {polarisation} measurement raster is {size[0]} x {size[1]} pixels ({count} band(s)),"
            f" but its annotation says {width} x {height}")
    if dtype not in ("uint16", "uint8", "int16", "uint32"):
        raise InputError(f"the {polarisation} measurement raster holds {dtype}, not detected GRD amplitudes")


def _text(root, path):
    element = root.find(path)
    if element is None or element.text is None:
        return None
    return element.text.strip()


def _number(root, path, kind=float):
    text = _text(root, path)
    if text is None:
        raise InputError(f"the product annotation gives no {path.rsplit('/', 1)[-1]}")
    try:
        return kind(text)
    except ValueError:
        raise InputError(f"the product annotation gives an unreadable {path.rsplit('/', 1)[-1]}") from None


def _integer(root, path):
    return _number(root, path, int)


def _numbers(element, name, kind, what):
    text = element.findtext(name)
    try:
        values = np.array(text.split(), dtype=kind)
    except (AttributeError, ValueError):
        raise InputError(f"the {what} annotation gives an unreadable {name} list") from None
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise InputError(f"the {what} annotation gives an empty or non-finite {name} list")
    return values


def _vectors(root, path, lut, what):
    """Read LUT vectors (line, pixels, values), sorted by line, each with increasing pixels."""
    vectors = []
    for element in root.iterfind(path):
        try:
            line = int(element.findtext("line"))
        except (TypeError, ValueError):
            raise InputError(f"the {what} annotation gives an unreadable vector line") from None
        pixels = _numbers(element, "pixel", np.float64, what)
        values = _numbers(element, lut, np.float64, what)
        if pixels.size != values.size or np.any(np.diff(pixels) < 0):
            raise InputError(f"the {what} annotation has a malformed vector at line {line}")
        vectors.append((line, pixels, values))
    if not vectors:
        raise InputError(f"the {what} annotation has no {lut} vectors")
    vectors.sort(key=lambda v: v[0])
    return Vectors(
        lines=np.array([v[0] for v in vectors], dtype=np.float64),
        pixels=tuple(v[1] for v in vectors),
        values=tuple(v[2] for v in vectors),
    )


def _azimuth_blocks(root, polarisation):
    blocks = []
    for element in root.iterfind("noiseAzimuthVectorList/noiseAzimuthVector"):
        what = f"{polarisation} noise azimuth"
        try:
            bounds = [int(element.findtext(n)) for n in (
                "firstAzimuthLine", "lastAzimuthLine", "firstRangeSample", "lastRangeSample")]
        except (TypeError, ValueError):
            raise InputError(f"the {what} annotation gives an unreadable block") from None
        lines = _numbers(element, "line", np.float64, what)
        values = _numbers(element, "noiseAzimuthLut", np.float64, what)
        if lines.size != values.size or np.any(np.diff(lines) < 0):
            raise InputError(f"the {what} annotation has a malformed vector")
        blocks.append(AzimuthBlock(element.findtext("swath") or "", *bounds, lines, values))
    return tuple(blocks)


def geolocation_grid(root, polarisation):
    points = {}
    for element in root.iterfind("geolocationGrid/geolocationGridPointList/geolocationGridPoint"):
        try:
            key = (int(element.findtext("line")), int(element.findtext("pixel")))
            points[key] = tuple(float(element.findtext(n)) for n in ("longitude", "latitude", "height"))
        except (TypeError, ValueError):
            raise InputError(f"the {polarisation} annotation has an unreadable geolocation grid point") from None
    lines = sorted({line for line, _ in points})
    pixels = sorted({pixel for _, pixel in points})
    if len(lines) < 2 or len(pixels) < 2 or len(points) != len(lines) * len(pixels):
        raise InputError(f"the {polarisation} annotation's geolocation grid is not a complete grid")
    values = np.array([[points[(line, pixel)] for pixel in pixels] for line in lines])
    if not np.all(np.isfinite(values)) or np.abs(values[..., 1]).max() > 90:
        raise InputError(f"the {polarisation} annotation's geolocation grid has invalid coordinates")
    return GeolocationGrid(
        lines=np.array(lines, dtype=np.float64),
        pixels=np.array(pixels, dtype=np.float64),
        longitude=values[..., 0],
        latitude=values[..., 1],
        height=values[..., 2],
    )


def grid_gcps(grid, crs=None, scale=1, offset=(0, 0)):
    """Ground control points of a geolocation grid, in ``crs`` (default lon/lat).

    An annotated (line, pixel) is the centre of that pixel, so the GCP lies at (line + 0.5,
    pixel + 0.5) in GDAL's corner-based image coordinates; for an image cut from the
    measurement at ``offset`` (line, pixel) and made of ``scale`` x ``scale`` pixel looks, at
    (line + 0.5 - offset[0]) / scale, (pixel + 0.5 - offset[1]) / scale.
    """
    lines, pixels = np.meshgrid(grid.lines, grid.pixels, indexing="ij")
    xs, ys = grid.longitude.ravel(), grid.latitude.ravel()
    if crs is not None:
        xs, ys = warp_transform("EPSG:4326", crs, xs, ys)
    return tuple(
        GroundControlPoint(row=(line + 0.5 - offset[0]) / scale, col=(pixel + 0.5 - offset[1]) / scale,
                           x=float(x), y=float(y), z=float(z), id=str(i))
        for i, (line, pixel, x, y, z) in enumerate(zip(lines.ravel(), pixels.ravel(), xs, ys, grid.height.ravel()))
    )


def _times(root):
    try:
        start = parse_time(_text(root, "adsHeader/startTime"))
        stop = parse_time(_text(root, "adsHeader/stopTime"))
    except (AttributeError, ValueError):
        raise InputError("the product annotation gives unreadable start and stop times") from None
    return start, stop


def _ipf_version(manifest):
    if manifest is None:
        return ""
    root = parse_xml(manifest, "manifest.safe")
    for element in root.iter(etree.Element):
        if etree.QName(element).localname == "software" and element.get("name") == "Sentinel-1 IPF":
            return element.get("version", "")
    return ""


def open_measurement(measurement):
    """Open the raster of ``measurement``; a missing or unreadable one is an InputError."""
    if measurement.path is None:
        raise InputError(f"the {measurement.polarisation} measurement raster is missing from the product")
    try:
        return _open_raster(measurement.path)
    except RasterioError:
        raise InputError(f"the {measurement.polarisation} measurement raster cannot be read") from None


def _open_raster(path):
    """Open a measurement raster: its own georeferencing (GCPs, or none) is not used."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        return rasterio.open(path)
