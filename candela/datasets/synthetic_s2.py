"""Synthetic Sentinel-2 SAFE products shaped like real ones, with a known reflectance.

:func:`write_product` writes a Level-1C or Level-2A product (folder or zip) whose metadata
follow the real files' structure and whose bands are lossless JPEG 2000 files, so readers
can be tested end to end without real data, from tiny (``size_10m=120``) to full size
(``size_10m=10980``).

The scene is a function of ground position in the tile, so every resolution samples the
same scene: per band, a smooth gradient (linear in x and y) plus three rectangles (a
vegetated field, bare soil, water) placed by ``seed``; a strip of no data (DN 0, SCL 0)
at the top of the left edge; and, when ``cloud_fraction`` > 0, clouds along the right
edge (SCL 9, 8 and 10 from top to bottom) with a cloud-shadow strip (SCL 3) beside them;
``texture`` > 0 adds deterministic per-pixel noise.
Every edge lies on the 60 m grid, so averaging 2x2 pixels at 10 m gives the 20 m value
(up to rounding). :func:`expected_reflectance` and :func:`expected_scl` compute the scene
from the same parameters without any file: a stored DN is
``round(reflectance * 10000) - offset`` (offset -1000 from baseline 04.00, else 0), so
``(DN + offset) / 10000`` equals :func:`expected_reflectance` exactly.
"""

import hashlib
import os
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cached_property
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from lxml import etree
from rasterio.crs import CRS
from rasterio.shutil import copy as rio_copy
from rasterio.warp import transform as warp_transform
from rasterio.windows import Window

from ..safe.sentinel2 import BANDS, NATIVE_RESOLUTION

#: Which bands a Level-2A product holds at each resolution (as in the real IMAGE_FILE lists).
L2A_LAYOUT = {
    10: ("B02", "B03", "B04", "B08"),
    20: ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B8A", "B11", "B12", "SCL"),
    60: ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B8A", "B09", "B11", "B12", "SCL"),
}
QUANTIFICATION = 10000

# Clear-sky reflectance of the background at the tile's top-left corner, per band.
_BASE = dict(zip(BANDS, (0.04, 0.05, 0.07, 0.06, 0.10, 0.18, 0.22, 0.26, 0.27, 0.08, 0.015, 0.17, 0.10)))
_FIELD = dict(zip(BANDS, (-0.01, -0.02, 0.01, -0.03, 0.02, 0.12, 0.16, 0.18, 0.18, 0.05, 0.0, -0.03, -0.04)))
_BARE = dict(zip(BANDS, (0.05, 0.06, 0.07, 0.09, 0.09, 0.06, 0.05, 0.04, 0.04, 0.03, 0.0, 0.12, 0.13)))

# Cell kinds on the 60 m grid, and their scene classes (SCL).
NODATA, BACKGROUND, FIELD, BARE, WATER, SHADOW = 0, 1, 2, 3, 4, 5
CLOUD_MEDIUM, CLOUD_HIGH, CIRRUS = 8, 9, 10
_SCL_OF_KIND = {NODATA: 0, BACKGROUND: 4, FIELD: 4, BARE: 5, WATER: 6, SHADOW: 3,
                CLOUD_MEDIUM: 8, CLOUD_HIGH: 9, CIRRUS: 10}

_NS = {
    ("L2A", "product"): "https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-2A.xsd",
    ("L1C", "product"): "https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-1C.xsd",
    ("L2A", "tile"): "https://psd-14.sentinel2.eo.esa.int/PSD/S2_PDI_Level-2A_Tile_Metadata.xsd",
    ("L1C", "tile"): "https://psd-14.sentinel2.eo.esa.int/PSD/S2_PDI_Level-1C_Tile_Metadata.xsd",
}
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_JP2_OPTIONS = dict(QUALITY=100, REVERSIBLE="YES", YCBCR420="NO", BLOCKXSIZE=1024, BLOCKYSIZE=1024)
_STRIP_PIXELS = 1 << 20  # pixels computed at once when writing a band: bounds memory at full size
_CACHE_MB = 64


@dataclass(frozen=True)
class Scene:
    """The synthetic scene of a ``size_10m`` x ``size_10m`` tile (at 10 m)."""

    size_10m: int = 120
    seed: int = 0
    cloud_fraction: float = 0.0
    texture: float = 0.0

    def __post_init__(self):
        if self.size_10m % 6 or self.size_10m < 60:
            raise ValueError("size_10m must be a multiple of 6, at least 60, so 20 m and 60 m grids fit")
        if not 0 <= self.cloud_fraction < 0.8:
            raise ValueError("cloud_fraction must be in [0, 0.8)")
        if not 0 <= self.texture <= 0.1:
            raise ValueError("texture must be in [0, 0.1]")

    def shape(self, resolution):
        """(rows, cols) of the tile at ``resolution`` metres."""
        n = self.size_10m * 10 // resolution
        return (n, n)

    @cached_property
    def cells(self):
        """Kind of each 60 m cell (NODATA, BACKGROUND, FIELD, ... CIRRUS)."""
        n = self.size_10m // 6
        kinds = np.full((n, n), BACKGROUND, dtype=np.uint8)
        rng = np.random.default_rng(self.seed)
        left = max(1, n // 10)
        for kind in rng.permutation([FIELD, BARE, WATER]):
            height = int(rng.integers(max(1, n // 10), max(2, n // 4) + 1))
            width = int(rng.integers(max(1, n // 10), max(2, n // 4) + 1))
            row = int(rng.integers(0, n - height + 1))
            col = int(rng.integers(left, n - width + 1))
            kinds[row:row + height, col:col + width] = kind
        clouds = int(round(self.cloud_fraction * n))
        if clouds:
            start = n - clouds
            shadow = max(1, n // 20)
            kinds[:, max(left, start - shadow):start] = SHADOW
            third = max(1, n // 3)
            kinds[:third, start:] = CLOUD_HIGH
            kinds[third:2 * third, start:] = CLOUD_MEDIUM
            kinds[2 * third:, start:] = CIRRUS
        kinds[: n // 2, :left] = NODATA
        return kinds

    def kinds(self, resolution, window=None):
        """Cell kinds sampled on the grid at ``resolution`` (optionally a window of it)."""
        rows, cols = self._pixels(resolution, window)
        return self.cells[(rows * resolution // 60)[:, None], (cols * resolution // 60)[None, :]]

    def reflectance(self, band, resolution, window=None):
        """Reflectance of ``band`` (float64, rounded to 1/10000; NaN where there is no data)."""
        rows, cols = self._pixels(resolution, window)
        extent = self.size_10m * 10.0
        u = (cols + 0.5) * resolution / extent
        v = (rows + 0.5) * resolution / extent
        value = _BASE[band] + 0.10 * u[None, :] + 0.05 * v[:, None]
        kinds = self.kinds(resolution, window)
        value = np.where(kinds == FIELD, value + _FIELD[band], value)
        value = np.where(kinds == BARE, value + _BARE[band], value)
        value = np.where(kinds == WATER, value * 0.3, value)
        value = np.where(kinds == SHADOW, value * 0.4, value)
        value = np.where(kinds == CLOUD_HIGH, 0.7, value)
        value = np.where(kinds == CLOUD_MEDIUM, 0.5, value)
        value = np.where(kinds == CIRRUS, 0.25 + 0.5 * value, value)
        if self.texture:
            value = value + self.texture * _noise(rows, cols, BANDS.index(band), resolution)
        value = np.rint(np.clip(value, 0.001, 1.0) * QUANTIFICATION) / QUANTIFICATION
        return np.where(kinds == NODATA, np.nan, value)

    def scl(self, resolution, window=None):
        """Scene classification (uint8 SCL classes) at ``resolution``."""
        lookup = np.zeros(256, dtype=np.uint8)
        for kind, value in _SCL_OF_KIND.items():
            lookup[kind] = value
        return lookup[self.kinds(resolution, window)]

    def dn(self, band, resolution, offset, window=None):
        """Stored digital numbers (uint16): round(reflectance * 10000) - offset, 0 for no data."""
        value = self.reflectance(band, resolution, window)
        dn = np.rint(value * QUANTIFICATION) - offset
        return np.where(np.isnan(value), 0, dn).astype(np.uint16)

    def cloud_cover(self):
        """Percentage of valid cells that are cloud (SCL 8, 9 or 10), as in the metadata."""
        valid = self.cells != NODATA
        cloudy = np.isin(self.cells, (CLOUD_MEDIUM, CLOUD_HIGH, CIRRUS))
        return round(100.0 * cloudy.sum() / max(valid.sum(), 1), 6)

    def _pixels(self, resolution, window):
        if resolution not in (10, 20, 60):
            raise ValueError("resolution must be 10, 20 or 60")
        height, width = self.shape(resolution)
        if window is None:
            window = Window(0, 0, width, height)
        elif not isinstance(window, Window):
            window = Window.from_slices(*window)
        (r0, r1), (c0, c1) = window.toranges()
        if r0 < 0 or c0 < 0 or r1 > height or c1 > width:
            raise ValueError("window is outside the tile")
        return np.arange(r0, r1), np.arange(c0, c1)


def _noise(rows, cols, band_index, resolution):
    """Deterministic pseudo-random values in [-1, 1) per pixel (a hash of its position)."""
    key = (rows.astype(np.uint64)[:, None] * np.uint64(0x9E3779B97F4A7C15)
           ^ cols.astype(np.uint64)[None, :] * np.uint64(0xC2B2AE3D27D4EB4F)
           ^ np.uint64(band_index * 1000003 + resolution))
    for shift, factor in ((33, 0xFF51AFD7ED558CCD), (33, 0xC4CEB9FE1A85EC53)):
        key = (key ^ (key >> np.uint64(shift))) * np.uint64(factor)
    key ^= key >> np.uint64(33)
    return (key >> np.uint64(11)).astype(np.float64) / float(1 << 52) - 1.0


def expected_reflectance(band, resolution, size_10m=120, seed=0, cloud_fraction=0.0, texture=0.0, window=None):
    """Reflectance :func:`write_product` stored for ``band`` at ``resolution`` (NaN = no data).

    Give the same ``size_10m``, ``seed``, ``cloud_fraction`` and ``texture`` as to ``write_product``;
    ``window`` is a rasterio Window of the grid at ``resolution``, or ((row_start, row_stop),
    (col_start, col_stop)).
    """
    return Scene(size_10m, seed, cloud_fraction, texture).reflectance(band, resolution, window)


def expected_scl(resolution, size_10m=120, seed=0, cloud_fraction=0.0, window=None):
    """Scene classification :func:`write_product` stored at ``resolution`` (Level-2A)."""
    return Scene(size_10m, seed, cloud_fraction).scl(resolution, window)


def write_product(
    directory,
    level="L2A",
    tile="T31TCJ",
    sensing_time=datetime(2022, 10, 5, 10, 56, 21, 24000, tzinfo=timezone.utc),
    baseline="04.00",
    size_10m=120,
    resolutions=None,
    bands=None,
    seed=0,
    cloud_fraction=0.0,
    texture=0.0,
    zipped=False,
    crs_epsg=32631,
    ulx=300000,
    uly=4900020,
    spacecraft="Sentinel-2A",
):
    """Write a synthetic SAFE product into ``directory``; return the .SAFE folder (or the .zip).

    ``level`` is "L2A" (bands in R10m/R20m/R60m as in real products, plus SCL at 20 and
    60 m) or "L1C" (one file per band at its native resolution). ``resolutions`` limits the
    resolutions written (default all; for L1C, bands whose native resolution is not in it
    are left out); ``bands`` limits the spectral bands. Band offsets (-1000) are written
    from baseline 04.00 on. ``texture`` adds deterministic per-pixel noise of that
    amplitude (reflectance units): 0.02 makes band files about as large as real ones, for
    benchmarks, but breaks the exact 2x2-average relation between resolutions. Memory
    stays bounded at full size (``size_10m=10980``).
    """
    if level not in ("L1C", "L2A"):
        raise ValueError("level must be 'L1C' or 'L2A'")
    scene = Scene(size_10m, seed, cloud_fraction, texture)
    tile = tile if tile.startswith("T") else "T" + tile
    if sensing_time.tzinfo is None:
        sensing_time = sensing_time.replace(tzinfo=timezone.utc)
    resolutions = tuple(sorted(resolutions or (10, 20, 60)))
    bands = tuple(b for b in BANDS if bands is None or b in bands)
    names = _names(level, tile, sensing_time, baseline, spacecraft)
    grid = (CRS.from_epsg(crs_epsg), ulx, uly)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if not zipped:
        return _write_safe(directory, level, names, scene, sensing_time, baseline, spacecraft,
                           resolutions, bands, grid)
    target = directory / (names["safe"][: -len(".SAFE")] + ".zip")
    with tempfile.TemporaryDirectory(dir=directory, prefix=".synthetic-") as work:
        safe = _write_safe(Path(work), level, names, scene, sensing_time, baseline, spacecraft,
                           resolutions, bands, grid)
        _zip_folder(safe, target)
    return target


def _write_safe(directory, level, names, scene, sensing_time, baseline, spacecraft, resolutions, bands, grid):
    crs, ulx, uly = grid
    offset = -1000 if _baseline_tuple(baseline) >= (4, 0) else 0
    files = _band_files(level, names, resolutions, bands)
    safe = directory / names["safe"]
    granule = safe / "GRANULE" / names["granule"]
    for sub in ("IMG_DATA", "QI_DATA", "AUX_DATA"):
        (granule / sub).mkdir(parents=True, exist_ok=True)
    (safe / "DATASTRIP" / names["datastrip"] / "QI_DATA").mkdir(parents=True, exist_ok=True)
    (safe / "rep_info").mkdir(exist_ok=True)

    for (band, resolution), relative in files.items():
        path = safe / (relative + ".jp2")
        path.parent.mkdir(parents=True, exist_ok=True)
        transform = Affine(resolution, 0.0, ulx, 0.0, -resolution, uly)
        _write_jp2(path, scene, band, resolution, offset, crs, transform)

    footprint = _footprint(crs, ulx, uly, scene.size_10m * 10.0)
    cloud_cover = scene.cloud_cover()
    _write_xml(safe / f"MTD_MSI{level}.xml", _product_xml(
        level, names, sensing_time, baseline, spacecraft, files, offset, footprint, cloud_cover))
    _write_xml(granule / "MTD_TL.xml", _tile_xml(level, names, sensing_time, crs, scene, ulx, uly, cloud_cover))
    _write_xml(safe / "manifest.safe", _manifest_xml(level, safe, sensing_time, spacecraft, footprint))
    return safe


def _baseline_tuple(baseline):
    major, _, minor = baseline.partition(".")
    return int(major), int(minor or 0)


def _names(level, tile, sensing_time, baseline, spacecraft):
    unit = "S2" + spacecraft[-1]
    stamp = sensing_time.strftime("%Y%m%dT%H%M%S")
    generated = (sensing_time + timedelta(hours=4, minutes=48)).strftime("%Y%m%dT%H%M%S")
    datatake = (sensing_time - timedelta(seconds=4)).strftime("%Y%m%dT%H%M%S")
    code = "N" + baseline.replace(".", "")
    version = f"N{baseline}"
    product_type = "MSIL2A" if level == "L2A" else "MSIL1C"
    orbit = "A038058"
    return {
        "safe": f"{unit}_{product_type}_{stamp}_{code}_R023_{tile}_{generated}.SAFE",
        "granule": f"{level}_{tile}_{orbit}_{datatake}",
        "datastrip": f"DS_ATOS_{generated}_S{datatake}",
        "granule_id": f"{unit}_OPER_MSI_{level}_TL_ATOS_{generated}_{orbit}_{tile}_{version}",
        "datastrip_id": f"{unit}_OPER_MSI_{level}_DS_ATOS_{generated}_S{datatake}_{version}",
        "datatake_id": f"G{unit}_{stamp}_{orbit[1:]}_{version}",
        "stamp": stamp,
        "tile": tile,
        "generated": generated,
        "unit": unit,
    }


def _band_files(level, names, resolutions, bands):
    """(band, resolution) -> path of the band file relative to the SAFE folder, without '.jp2'."""
    prefix = f"GRANULE/{names['granule']}/IMG_DATA"
    stem = f"{names['tile']}_{names['stamp']}"
    files = {}
    if level == "L1C":
        for band in bands:
            if NATIVE_RESOLUTION[band] in resolutions:
                files[(band, NATIVE_RESOLUTION[band])] = f"{prefix}/{stem}_{band}"
        return files
    for resolution in resolutions:
        for band in L2A_LAYOUT[resolution]:
            if band == "SCL" or band in bands:
                files[(band, resolution)] = f"{prefix}/R{resolution}m/{stem}_{band}_{resolution}m"
    return files


def _write_jp2(path, scene, band, resolution, offset, crs, transform):
    """Write one band as lossless JPEG 2000, a strip of rows at a time.

    JP2OpenJPEG can only copy a whole dataset, so the strips go to a temporary tiled
    GeoTIFF first; GDAL then encodes it tile by tile, so memory stays bounded.
    """
    height, width = scene.shape(resolution)
    dtype = "uint8" if band == "SCL" else "uint16"
    temporary = path.with_name(path.name + ".tmp.tif")
    profile = dict(driver="GTiff", width=width, height=height, count=1, dtype=dtype, crs=crs,
                   transform=transform, tiled=True, blockxsize=512, blockysize=512)
    step = max(1, _STRIP_PIXELS // width)
    try:
        # GDAL's block cache would otherwise grow to hold the whole band (5 % of RAM allowed).
        with rasterio.Env(GDAL_CACHEMAX=_CACHE_MB), rasterio.open(temporary, "w", **profile) as out:
            for row in range(0, height, step):
                window = Window(0, row, width, min(step, height - row))
                if band == "SCL":
                    data = scene.scl(resolution, window)
                else:
                    data = scene.dn(band, resolution, offset, window)
                out.write(data, 1, window=window)
        with rasterio.Env(GDAL_CACHEMAX=_CACHE_MB):
            rio_copy(temporary, path, driver="JP2OpenJPEG", **_JP2_OPTIONS)
    finally:
        temporary.unlink(missing_ok=True)


def _footprint(crs, ulx, uly, extent):
    """Closed ring of (lat, lon) tile corners, as in EXT_POS_LIST."""
    xs = [ulx, ulx + extent, ulx + extent, ulx, ulx]
    ys = [uly, uly, uly - extent, uly - extent, uly]
    lons, lats = warp_transform(crs, "EPSG:4326", xs, ys)
    return list(zip(lats, lons))


def _time_text(when):
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _sub(parent, tag, text=None, **attributes):
    element = etree.SubElement(parent, tag, {k: str(v) for k, v in attributes.items()})
    if text is not None:
        element.text = str(text)
    return element


def _product_xml(level, names, sensing_time, baseline, spacecraft, files, offset, footprint, cloud_cover):
    ns = _NS[(level, "product")]
    root = etree.Element(f"{{{ns}}}Level-{level[1:]}_User_Product", nsmap={"n1": ns, "xsi": _XSI})
    root.set(f"{{{_XSI}}}schemaLocation", ns)
    general = _sub(root, f"{{{ns}}}General_Info")
    info = _sub(general, "Product_Info")
    start = _time_text(sensing_time)
    _sub(info, "PRODUCT_START_TIME", start)
    _sub(info, "PRODUCT_STOP_TIME", start)
    _sub(info, "PRODUCT_URI", names["safe"])
    _sub(info, "PROCESSING_LEVEL", f"Level-{level[1:]}")
    _sub(info, "PRODUCT_TYPE", "S2MSI2A" if level == "L2A" else "S2MSI1C")
    _sub(info, "PROCESSING_BASELINE", baseline)
    _sub(info, "GENERATION_TIME", datetime.strptime(names["generated"], "%Y%m%dT%H%M%S").strftime(
        "%Y-%m-%dT%H:%M:%S.000000Z"))
    _sub(info, "PREVIEW_IMAGE_URL", "Not applicable")
    datatake = _sub(info, "Datatake", datatakeIdentifier=names["datatake_id"])
    _sub(datatake, "SPACECRAFT_NAME", spacecraft)
    _sub(datatake, "DATATAKE_TYPE", "INS-NOBS")
    _sub(datatake, "DATATAKE_SENSING_START", start)
    _sub(datatake, "SENSING_ORBIT_NUMBER", 23)
    _sub(datatake, "SENSING_ORBIT_DIRECTION", "DESCENDING")
    options = _sub(info, "Query_Options", completeSingleTile="true")
    _sub(options, "PRODUCT_FORMAT", "SAFE_COMPACT")
    granules = _sub(_sub(info, "Product_Organisation"), "Granule_List")
    granule = _sub(granules, "Granule", datastripIdentifier=names["datastrip_id"],
                   granuleIdentifier=names["granule_id"], imageFormat="JPEG2000")
    for relative in sorted(files.values(), key=_image_file_order):
        _sub(granule, "IMAGE_FILE", relative)

    characteristics = _sub(general, "Product_Image_Characteristics")
    for text, index in (("NODATA", 0), ("SATURATED", 65535)):
        special = _sub(characteristics, "Special_Values")
        _sub(special, "SPECIAL_VALUE_TEXT", text)
        _sub(special, "SPECIAL_VALUE_INDEX", index)
    display = _sub(characteristics, "Image_Display_Order")
    for channel, index in (("RED_CHANNEL", 3), ("GREEN_CHANNEL", 2), ("BLUE_CHANNEL", 1)):
        _sub(display, channel, index)
    if level == "L2A":
        quantification = _sub(characteristics, "QUANTIFICATION_VALUES_LIST")
        _sub(quantification, "BOA_QUANTIFICATION_VALUE", QUANTIFICATION, unit="none")
        _sub(quantification, "AOT_QUANTIFICATION_VALUE", "1000.0", unit="none")
        _sub(quantification, "WVP_QUANTIFICATION_VALUE", "1000.0", unit="cm")
        offsets, offset_tag = "BOA_ADD_OFFSET_VALUES_LIST", "BOA_ADD_OFFSET"
    else:
        _sub(characteristics, "QUANTIFICATION_VALUE", QUANTIFICATION, unit="none")
        offsets, offset_tag = "Radiometric_Offset_List", "RADIO_ADD_OFFSET"
    if offset:
        offset_list = _sub(characteristics, offsets)
        for band_id in range(len(BANDS)):
            _sub(offset_list, offset_tag, offset, band_id=band_id)
    conversion = _sub(characteristics, "Reflectance_Conversion")
    _sub(conversion, "U", "0.998456468000941")
    spectral = _sub(characteristics, "Spectral_Information_List")
    for band_id, band in enumerate(BANDS):
        physical = band if band == "B8A" else "B" + str(int(band[1:]))
        information = _sub(spectral, "Spectral_Information", bandId=band_id, physicalBand=physical)
        _sub(information, "RESOLUTION", NATIVE_RESOLUTION[band])
    if level == "L2A":
        classes = _sub(characteristics, "Scene_Classification_List")
        for index, text in enumerate(("NODATA", "SATURATED_DEFECTIVE", "DARK_FEATURE_SHADOW", "CLOUD_SHADOW",
                                      "VEGETATION", "NOT_VEGETATED", "WATER", "UNCLASSIFIED",
                                      "CLOUD_MEDIUM_PROBA", "CLOUD_HIGH_PROBA", "THIN_CIRRUS", "SNOW_ICE")):
            item = _sub(classes, "Scene_Classification_ID")
            _sub(item, "SCENE_CLASSIFICATION_TEXT", "SC_" + text)
            _sub(item, "SCENE_CLASSIFICATION_INDEX", index)

    geometric = _sub(root, f"{{{ns}}}Geometric_Info")
    outer = _sub(geometric, "Product_Footprint")
    inner = _sub(_sub(outer, "Product_Footprint"), "Global_Footprint")
    _sub(inner, "EXT_POS_LIST", " ".join(f"{lat!r} {lon!r}" for lat, lon in footprint) + " ")
    _sub(outer, "RASTER_CS_TYPE", "POINT")
    _sub(outer, "PIXEL_ORIGIN", 1)
    reference = _sub(geometric, "Coordinate_Reference_System")
    _sub(reference, "GEO_TABLES", "EPSG", version="1")
    _sub(reference, "HORIZONTAL_CS_TYPE", "GEOGRAPHIC")
    _sub(_sub(root, f"{{{ns}}}Auxiliary_Data_Info"), "PRODUCTION_DEM_TYPE", "CopernicusDEM90")
    quality = _sub(root, f"{{{ns}}}Quality_Indicators_Info")
    _sub(quality, "Cloud_Coverage_Assessment", f"{cloud_cover:.6f}")
    return root


def _image_file_order(relative):
    # Real lists run resolution by resolution, bands in MTD order, SCL last.
    name = relative.rsplit("/", 1)[-1]
    parts = name.split("_")
    band = parts[2]
    resolution = int(parts[3][:-1]) if len(parts) > 3 else 0
    return resolution, BANDS.index(band) if band in BANDS else len(BANDS)


def _tile_xml(level, names, sensing_time, crs, scene, ulx, uly, cloud_cover):
    ns = _NS[(level, "tile")]
    root = etree.Element(f"{{{ns}}}Level-{level[1:]}_Tile_ID", nsmap={"n1": ns, "xsi": _XSI})
    root.set(f"{{{_XSI}}}schemaLocation", ns)
    general = _sub(root, f"{{{ns}}}General_Info")
    if level == "L2A":
        _sub(general, "L1C_TILE_ID", names["granule_id"].replace("MSI_L2A", "MSI_L1C"), metadataLevel="Brief")
    _sub(general, "TILE_ID", names["granule_id"], metadataLevel="Brief")
    _sub(general, "DATASTRIP_ID", names["datastrip_id"], metadataLevel="Standard")
    _sub(general, "DOWNLINK_PRIORITY", "NOMINAL", metadataLevel="Standard")
    _sub(general, "SENSING_TIME", _time_text(sensing_time + timedelta(seconds=158)), metadataLevel="Standard")
    geometric = _sub(root, f"{{{ns}}}Geometric_Info")
    geocoding = _sub(geometric, "Tile_Geocoding", metadataLevel="Brief")
    _sub(geocoding, "HORIZONTAL_CS_NAME", crs.to_wkt().split('"')[1])
    _sub(geocoding, "HORIZONTAL_CS_CODE", f"EPSG:{crs.to_epsg()}")
    for resolution in (10, 20, 60):
        rows, cols = scene.shape(resolution)
        size = _sub(geocoding, "Size", resolution=resolution)
        _sub(size, "NROWS", rows)
        _sub(size, "NCOLS", cols)
    for resolution in (10, 20, 60):
        position = _sub(geocoding, "Geoposition", resolution=resolution)
        _sub(position, "ULX", ulx)
        _sub(position, "ULY", uly)
        _sub(position, "XDIM", resolution)
        _sub(position, "YDIM", -resolution)
    quality = _sub(root, f"{{{ns}}}Quality_Indicators_Info", metadataLevel="Standard")
    content = _sub(quality, "Image_Content_QI")
    _sub(content, "CLOUDY_PIXEL_PERCENTAGE", f"{cloud_cover:.6f}")
    return root


def _manifest_xml(level, safe, sensing_time, spacecraft, footprint):
    xfdu, safe_ns, gml = "urn:ccsds:schema:xfdu:1", "http://www.esa.int/safe/sentinel/1.1", "http://www.opengis.net/gml"
    kind = "l2a" if level == "L2A" else "l1c"
    root = etree.Element(f"{{{xfdu}}}XFDU", nsmap={"xfdu": xfdu, "safe": safe_ns, "gml": gml},
                         version=f"esa/safe/sentinel/1.1/sentinel-2/msi/archive_{kind}_user_product")
    _sub(root, "informationPackageMap")
    metadata = _sub(root, "metadataSection")
    wrap = _sub(_sub(metadata, "metadataObject", ID="acquisitionPeriod", category="DMD",
                     classification="DESCRIPTION"), "metadataWrap", mimeType="text/xml")
    period = _sub(_sub(wrap, "xmlData"), f"{{{safe_ns}}}acquisitionPeriod")
    _sub(period, f"{{{safe_ns}}}startTime", _time_text(sensing_time))
    wrap = _sub(_sub(metadata, "metadataObject", ID="platform", category="DMD",
                     classification="DESCRIPTION"), "metadataWrap", mimeType="text/xml")
    platform = _sub(_sub(wrap, "xmlData"), f"{{{safe_ns}}}platform")
    _sub(platform, f"{{{safe_ns}}}familyName", "SENTINEL")
    _sub(platform, f"{{{safe_ns}}}number", spacecraft[-2:])
    wrap = _sub(_sub(metadata, "metadataObject", ID="measurementFrameSet", category="DMD",
                     classification="DESCRIPTION"), "metadataWrap", mimeType="text/xml")
    frame = _sub(_sub(_sub(wrap, "xmlData"), f"{{{safe_ns}}}frameSet"), f"{{{safe_ns}}}footPrint",
                 srsName="http://www.opengis.net/gml/srs/epsg.xml#4326")
    _sub(frame, f"{{{gml}}}coordinates", " ".join(f"{lat!r} {lon!r}" for lat, lon in footprint) + " ")
    objects = _sub(root, "dataObjectSection")
    paths = sorted(p for p in safe.rglob("*") if p.is_file() and p.name != "manifest.safe")
    for number, path in enumerate(paths):
        relative = path.relative_to(safe).as_posix()
        stream = _sub(_sub(objects, "dataObject", ID=f"object_{number}"), "byteStream",
                      mimeType="text/xml" if path.suffix == ".xml" else "application/octet-stream",
                      size=path.stat().st_size)
        _sub(stream, "fileLocation", href="./" + relative, locatorType="URL")
        _sub(stream, "checksum", _sha3(path), checksumName="SHA3-256")
    return root


def _sha3(path):
    digest = hashlib.sha3_256()
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _write_xml(path, root):
    etree.ElementTree(root).write(str(path), xml_declaration=True, encoding="UTF-8", standalone=False,
                                  pretty_print=True)


def _zip_folder(folder, target):
    """Zip ``folder`` (kept as the archive's top folder, like downloaded products)."""
    base = folder.parent
    with zipfile.ZipFile(target, "w") as archive:
        for current, subfolders, filenames in os.walk(folder):
            subfolders.sort()
            relative = Path(current).relative_to(base).as_posix()
            archive.write(current, relative + "/")
            for name in sorted(filenames):
                # JPEG 2000 is already compressed: storing it is faster and no larger.
                method = zipfile.ZIP_STORED if name.endswith(".jp2") else zipfile.ZIP_DEFLATED
                archive.write(os.path.join(current, name), f"{relative}/{name}", compress_type=method)
