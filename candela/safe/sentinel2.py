"""Sentinel-2 Level-1C and Level-2A products in the SAFE format: what their metadata say, and
where their band files are.

Metadata come from the product's ``MTD_MSIL1C.xml`` / ``MTD_MSIL2A.xml`` and the granule's
``MTD_TL.xml``, read through :mod:`candela.safe.container` (folder or zip) and parsed by
:func:`candela.safe.xml.parse_xml`. Elements are matched by local name, because namespaces
differ between levels and processing baselines.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath

from affine import Affine
from lxml import etree
from rasterio.crs import CRS
from rasterio.errors import CRSError
from rasterio.transform import array_bounds
from rasterio.warp import transform_geom
from shapely.geometry import Polygon, box, shape as to_shape

from ..errors import InputError
from ..rasters.dating import parse_time
from .archive import extract_zip, is_zip
from .container import Kind, open_safe
from .xml import parse_xml

BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")
NATIVE_RESOLUTION = {
    "B01": 60, "B02": 10, "B03": 10, "B04": 10, "B05": 20, "B06": 20, "B07": 20,
    "B08": 10, "B8A": 20, "B09": 60, "B10": 60, "B11": 20, "B12": 20, "SCL": 20,
}
RESOLUTIONS = (10, 20, 60)
#: Sentinel-2 products are marked by their product metadata file.
SENTINEL2 = Kind("Sentinel-2 product", "MTD_MSIL1C.xml or MTD_MSIL2A.xml", re.compile(r"MTD_MSI(L1C|L2A)\.xml"))

_BAND_FILE = re.compile(r"_(B0[1-9]|B1[0-2]|B8A|SCL)(?:_(10|20|60)m)?(?:\.jp2)?$", re.IGNORECASE)
_TILE = re.compile(r"_T(\d{2}[A-Z]{3})(?:_|$)")
_BASELINE = re.compile(r"_N(\d{2})(\d{2})_")


@dataclass
class Product:
    """A Sentinel-2 product: what its metadata say, and where its band files are."""

    path: Path
    product_id: str
    level: str
    spacecraft: str
    sensing_time: datetime
    processing_baseline: str
    tile_id: str
    cloud_cover: float
    crs: CRS
    footprint: Polygon
    quantification: float
    offsets: dict
    _grids: dict = field(default_factory=dict, repr=False)
    _files: dict = field(default_factory=dict, repr=False)
    _zipped: bool = field(default=False, repr=False)

    def transform(self, resolution):
        """Affine transform of the tile's grid at ``resolution`` metres."""
        ulx, uly, xdim, ydim, _, _ = self._grid(resolution)
        return Affine(xdim, 0.0, ulx, 0.0, ydim, uly)

    def shape(self, resolution):
        """(height, width) of the tile's grid at ``resolution`` metres."""
        return self._grid(resolution)[4:]

    def bounds(self, resolution):
        """(left, bottom, right, top) of the tile's grid at ``resolution`` metres."""
        height, width = self.shape(resolution)
        return array_bounds(height, width, self.transform(resolution))

    def available_bands(self):
        """Bands with at least one file in the product, in MTD order (SCL last)."""
        present = {band for band, _ in self._files}
        return [band for band in BANDS + ("SCL",) if band in present]

    def band_path(self, band, resolution):
        """Path of ``band``'s file at ``resolution`` metres, else at the band's native resolution.

        Level-1C products have one file per band, at its native resolution. The file
        returned may thus be at another resolution than asked: read its own transform.
        """
        name = band_name(band, self.level)
        resolution = check_resolution(resolution)
        if self._zipped:
            raise InputError("band files cannot be read from a zipped product: extract it first")
        wanted = (resolution, NATIVE_RESOLUTION[name]) if self.level == "L2A" else (NATIVE_RESOLUTION[name],)
        for candidate in wanted:
            relative = self._files.get((name, candidate))
            if relative is not None:
                return self.path / relative
        shown = wanted[0]
        others = sorted(r for b, r in self._files if b == name and r != shown)
        hint = f" (it has it at {', '.join(f'{r} m' for r in others)})" if others else ""
        raise InputError(f"band {name} at {shown} m is missing from the product{hint}")

    def _grid(self, resolution):
        resolution = check_resolution(resolution)
        if resolution not in self._grids:
            raise InputError(f"the product metadata give no {resolution} m grid")
        return self._grids[resolution]


def read_product(path):
    """Read a product from its .SAFE folder, or from a folder holding exactly one .SAFE folder."""
    path = Path(path)
    if path.is_file():
        if is_zip(path):
            raise InputError("the product is zipped: extract it first")
        raise InputError("not a Sentinel-2 product (a SAFE folder was expected)")
    if not path.is_dir():
        raise InputError("not a Sentinel-2 product (no such folder)")
    with open_safe(path, SENTINEL2) as safe:
        return _product(safe)


def open_product(path, directory, **limits):
    """Read a product from a .SAFE folder, or from a zipped SAFE unpacked safely into ``directory``
    (``limits``: the keyword arguments of :func:`candela.safe.archive.extract_zip`)."""
    path = Path(path)
    if path.is_dir():
        return read_product(path)
    if not is_zip(path):
        raise InputError("not a zipped SAFE product or a .SAFE folder")
    return read_product(extract_zip(path, directory, **limits))


def read_product_info(path):
    """Read a product's metadata from its folder (as :func:`read_product`) or from its zip.

    A zip is not extracted: only its MTD_MSI*.xml and GRANULE/*/MTD_TL.xml are read, so
    :meth:`Product.band_path` cannot be used on the result.
    """
    path = Path(path)
    if not (path.is_file() and is_zip(path)):
        return read_product(path)
    with open_safe(path, SENTINEL2) as safe:
        return _product(safe)


def _only_granule(tile_files):
    if not tile_files:
        raise InputError("the product has no granule metadata (GRANULE/*/MTD_TL.xml)")
    if len(tile_files) > 1:
        raise InputError("products with several granules (the format used before December 2016) are not supported")
    return tile_files[0]


def _product(safe):
    """The :class:`Product` in ``safe`` (a container from :func:`~candela.safe.container.open_safe`)."""
    if len(safe.markers) > 1:
        raise InputError("the product holds both Level-1C and Level-2A metadata")
    mtd_name = safe.markers[0]
    level = SENTINEL2.pattern.fullmatch(mtd_name).group(1)
    tile_name = _only_granule([f for f in safe.files if re.fullmatch(r"GRANULE/[^/]+/MTD_TL\.xml", f)])
    mtd, tile = safe.read(mtd_name), safe.read(tile_name)
    product = _index(parse_xml(mtd, mtd_name))
    root_name = product["__root__"]
    if root_name != f"Level-{level[1:]}_User_Product":
        raise InputError("not a Sentinel-2 product (its metadata are of another kind)")
    granule = _index(parse_xml(tile, "MTD_TL.xml"))

    product_id = _text(product, "PRODUCT_URI", "PRODUCT_URI_2A", "PRODUCT_URI_1C") or safe.name
    product_id = re.sub(r"\.SAFE$", "", product_id.strip(), flags=re.IGNORECASE)
    spacecraft = _text(product, "SPACECRAFT_NAME") or _spacecraft_from_id(product_id)
    if not spacecraft.upper().startswith("SENTINEL-2"):
        raise InputError("not a Sentinel-2 product (the metadata name another spacecraft)")
    crs = _crs(_text(granule, "HORIZONTAL_CS_CODE"))
    grids = _grids(granule)
    image_files = _text_list(product, "IMAGE_FILE")
    files = {f for f in safe.files if f.startswith("GRANULE/")}
    return Product(
        path=safe.path,
        product_id=product_id,
        level=level,
        spacecraft=spacecraft,
        sensing_time=_sensing_time(product, granule),
        processing_baseline=_baseline(product, product_id),
        tile_id=_tile_id(product_id, granule),
        cloud_cover=_number(product, "Cloud_Coverage_Assessment", default=float("nan")),
        crs=crs,
        footprint=_footprint(product, crs, grids),
        quantification=_number(
            product, "BOA_QUANTIFICATION_VALUE" if level == "L2A" else "QUANTIFICATION_VALUE",
            "L2A_BOA_QUANTIFICATION_VALUE", default=10000.0),
        offsets=_offsets(product, "BOA_ADD_OFFSET" if level == "L2A" else "RADIO_ADD_OFFSET"),
        _grids=grids,
        _files=_band_files(level, image_files, files),
        _zipped=safe.zipped,
    )


def _index(root):
    """Elements by local name (the root's own name under '__root__')."""
    found = {"__root__": etree.QName(root).localname}
    for element in root.iter(etree.Element):
        found.setdefault(etree.QName(element).localname, []).append(element)
    return found


def _text_list(index, name):
    return [e.text.strip() for e in index.get(name, []) if e.text and e.text.strip()]


def _text(index, *names):
    for name in names:
        texts = _text_list(index, name)
        if texts:
            return texts[0]
    return None


def _number(index, *names, default):
    text = _text(index, *names)
    if text is None:
        return default
    try:
        return float(text)
    except ValueError:
        raise InputError(f"the product metadata give a non-numeric {names[0]}") from None


def _sensing_time(product, granule):
    text = _text(product, "PRODUCT_START_TIME", "DATATAKE_SENSING_START") or _text(granule, "SENSING_TIME")
    if text is None:
        raise InputError("the product metadata give no sensing time")
    try:
        return parse_time(text)
    except ValueError:
        raise InputError("the product metadata give an unreadable sensing time") from None


def _baseline(product, product_id):
    text = _text(product, "PROCESSING_BASELINE")
    if text:
        return text
    match = _BASELINE.search(product_id + "_")
    return f"{match.group(1)}.{match.group(2)}" if match else ""


def _tile_id(product_id, granule):
    for text in (product_id, _text(granule, "TILE_ID") or ""):
        match = _TILE.search(text)
        if match:
            return match.group(1)
    raise InputError("the product metadata give no MGRS tile")


def _spacecraft_from_id(product_id):
    match = re.match(r"S2([A-D])_", product_id)
    if not match:
        raise InputError("not a Sentinel-2 product (the metadata name no spacecraft)")
    return f"Sentinel-2{match.group(1)}"


def _crs(code):
    if not code:
        raise InputError("the granule metadata give no coordinate system")
    try:
        return CRS.from_user_input(code)
    except CRSError:
        raise InputError(f"the granule's coordinate system {code[:40]!r} is not understood") from None


def _grids(granule):
    """resolution -> (ulx, uly, xdim, ydim, rows, cols) from Tile_Geocoding."""
    sizes, positions = {}, {}
    try:
        for element in granule.get("Size", []):
            sizes[int(element.get("resolution"))] = tuple(int(_child(element, n)) for n in ("NROWS", "NCOLS"))
        for element in granule.get("Geoposition", []):
            positions[int(element.get("resolution"))] = tuple(
                float(_child(element, n)) for n in ("ULX", "ULY", "XDIM", "YDIM"))
    except (TypeError, ValueError):
        raise InputError("the granule metadata give an unreadable tile geocoding") from None
    grids = {r: positions[r] + sizes[r] for r in positions if r in sizes}
    if not grids:
        raise InputError("the granule metadata give no tile geocoding")
    return grids


def _child(element, name):
    for child in element.iter(etree.Element):
        if etree.QName(child).localname == name and child.text:
            return child.text.strip()
    return None


def _footprint(product, crs, grids):
    text = _text(product, "EXT_POS_LIST")
    if text:
        try:
            values = [float(v) for v in text.split()]
        except ValueError:
            values = []
        if len(values) >= 6 and len(values) % 2 == 0:
            # EXT_POS_LIST lists latitude before longitude.
            return Polygon(list(zip(values[1::2], values[0::2])))
    resolution = min(grids)
    ulx, uly, xdim, ydim, rows, cols = grids[resolution]
    tile = box(*array_bounds(rows, cols, Affine(xdim, 0.0, ulx, 0.0, ydim, uly)))
    return to_shape(transform_geom(crs, "EPSG:4326", tile.__geo_interface__))


def _offsets(product, tag):
    offsets = dict.fromkeys(BANDS, 0)
    for element in product.get(tag, []):
        try:
            offsets[BANDS[int(element.get("band_id"))]] = int(float(element.text))
        except (TypeError, ValueError, IndexError):
            raise InputError(f"the product metadata give an unreadable {tag}") from None
    return offsets


def _band_files(level, image_files, files):
    """(band, resolution) -> relative path of each band file present, from IMAGE_FILE and the listing."""
    candidates = [f if f.lower().endswith(".jp2") else f + ".jp2" for f in image_files]
    found = {}
    for relative in sorted(set(candidates) | {f for f in files if f.lower().endswith(".jp2")}):
        if relative not in files or "IMG_DATA" not in relative.split("/"):
            continue
        match = _BAND_FILE.search(PurePosixPath(relative).name)
        if not match:
            continue
        band = match.group(1).upper()
        if band == "SCL" and level != "L2A":
            continue
        resolution = int(match.group(2)) if match.group(2) else NATIVE_RESOLUTION[band]
        found.setdefault((band, resolution), relative)
    return found


def band_name(band, level=None):
    """The canonical name of a band (``"b8a"`` -> ``"B8A"``, ``"B2"`` -> ``"B02"``), or raise InputError.

    With ``level`` given, SCL is accepted for Level-2A only.
    """
    name = str(band).strip().upper()
    if re.fullmatch(r"B\d", name):
        name = "B0" + name[1]
    if name == "SCL" and level not in (None, "L2A"):
        raise InputError("band SCL (scene classification) exists only in Level-2A products")
    if name not in BANDS + ("SCL",):
        raise InputError(f"unknown band {str(band)[:20]!r}: use B01-B12, B8A (and SCL for Level-2A)")
    return name


def check_resolution(value):
    """The resolution as an int among 10, 20 and 60 m, or raise InputError."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = None
    if number not in RESOLUTIONS:
        raise InputError(f"resolution must be 10, 20 or 60 m, not {str(value)[:20]}")
    return int(number)
