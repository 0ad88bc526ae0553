"""BigEarthNet-MM patches (Sentinel-2 + Sentinel-1, 120 x 120 px at 10 m) as service inputs.

Layout under ``root`` (``../shared/data/bigearthnet``)::

    BigEarthNet-S2-Example/<S2 patch>/<S2 patch>_B02.tif ...    one uint16 GeoTIFF per band
    BigEarthNet-S2-Example/<S2 patch>/<S2 patch>_labels_metadata.json
    BigEarthNet-S1-Example/<S1 patch>/<S1 patch>_VV.tif, _VH.tif  backscatter in dB (float32)

An S2 patch is named ``S2A_MSIL2A_20170613T101031_87_48`` (its time is not always well
formed: ``S2B_MSIL2A_20170924T93020_69_24``), an S1 patch
``S1A_IW_GRDH_1SDV_20170613T165043_33UUP_87_48``. The trailing ``<row>_<col>`` repeats in
every tile, and the two sensors' dates can differ by a day, so :func:`patches` pairs them
by tile and row and column: the S1 name gives its tile, the S2 metadata's ``tile_source``
(the L1C product) gives the S2 one. :func:`write_patch` turns a pair into the two GeoTIFFs
the service takes: a named, dated 10-band optical stack and a VV + VH stack.
"""

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.warp import reproject

from ..errors import InputError
from ..rasters.dating import parse_time, tile_from_name
from ..rasters.grid import Grid
from .oscd import save_stack

S2_FOLDER = "BigEarthNet-S2-Example"
S1_FOLDER = "BigEarthNet-S1-Example"
#: The bands stacked, all on the 10 m grid. B01 (aerosols) and B09 (water vapour) are left
#: out: 60 m atmospheric bands, used to correct the image, that say little about the ground.
BANDS = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
SAR_BANDS = ("VV", "VH")
#: The band whose grid (10 m) is the stack's grid.
REFERENCE_BAND = "B02"
S1_NAME = re.compile(r"S1[A-D]_[A-Z0-9]{2}_[A-Z0-9]{4}_[A-Z0-9]{4}_(\d{8}T\d{6})_(\d{2}[A-Z]{3})_(\d+)_(\d+)")
S2_NAME = re.compile(r"S2[A-D]_MSIL2A_\d{8}T\d+_(\d+)_(\d+)")


class Patch(NamedTuple):
    """A Sentinel-2 patch folder, the matching Sentinel-1 one, and the patch's CORINE labels."""

    s2_folder: Path
    s1_folder: Path
    labels: tuple


def patches(root):
    """The patches under ``root`` that both sensors cover, as :class:`Patch`, by S2 folder name."""
    root = Path(root)
    if not (root / S2_FOLDER).is_dir() or not (root / S1_FOLDER).is_dir():
        raise InputError(f"a BigEarthNet root holds {S2_FOLDER} and {S1_FOLDER}")
    radar = {}
    for folder in (root / S1_FOLDER).iterdir():
        match = S1_NAME.fullmatch(folder.name)
        if match:
            radar[match.group(2, 3, 4)] = folder
    pairs = []
    for folder in sorted((root / S2_FOLDER).iterdir()):
        match = S2_NAME.fullmatch(folder.name)
        if not match:
            continue
        metadata = s2_metadata(folder)
        key = (tile_from_name(metadata.get("tile_source", "")),) + match.group(1, 2)
        if key in radar:
            pairs.append(Patch(folder, radar[key], tuple(metadata.get("labels", ()))))
    return pairs


def s2_metadata(folder):
    """The ``labels_metadata.json`` of a Sentinel-2 patch folder, as a dict."""
    path = Path(folder) / f"{Path(folder).name}_labels_metadata.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        raise InputError(f"{path.name} is missing or not JSON") from None


def s2_time(folder):
    """Acquisition time (aware UTC) of a Sentinel-2 patch, from its metadata's ``acquisition_date``."""
    try:
        return parse_time(s2_metadata(folder)["acquisition_date"])
    except (KeyError, ValueError):
        raise InputError(f"{Path(folder).name} has no valid acquisition_date") from None


def s1_time(folder):
    """Acquisition time (aware UTC) of a Sentinel-1 patch, from its name."""
    match = S1_NAME.fullmatch(Path(folder).name)
    if not match:
        raise InputError(f"{Path(folder).name} is not a BigEarthNet-S1 patch name")
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=timezone.utc)


def write_patch(s2_folder, s1_folder, destination):
    """Write a patch as ``destination/<S2 patch>.tif`` and ``destination/<S1 patch>.tif``; return both paths.

    The optical file holds :data:`BANDS` (uint16 reflectance x 10000, nodata 0) on the 10 m
    grid; the radar file VV and VH in dB (float32, nodata NaN, tag ``UNITS=dB``). Both are
    named by their band descriptions and dated by ``ACQUISITION_DATE``.
    """
    s2_folder, s1_folder, destination = Path(s2_folder), Path(s1_folder), Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    optical = save_stack(*read_s2(s2_folder), destination / f"{s2_folder.name}.tif")
    sar = save_stack(*read_s1(s1_folder), destination / f"{s1_folder.name}.tif", dtype="float32")
    with rasterio.open(sar, "r+") as dataset:
        dataset.update_tags(UNITS="dB")
    return optical, sar


def read_s2(folder):
    """The :data:`BANDS` of a Sentinel-2 patch on its 10 m grid (float32), and a profile for ``save_stack``.

    The 20 m bands are resampled by nearest neighbour: the 10 m grid halves each 20 m pixel
    exactly, so every 10 m pixel keeps the value measured over it, where bilinear would
    invent values blended across field edges and change the patch's statistics.
    """
    with _open(_band_file(folder, REFERENCE_BAND)) as reference:
        grid = Grid.of(reference)
    stack = np.full((len(BANDS), grid.height, grid.width), np.nan, dtype=np.float32)
    for layer, band in zip(stack, BANDS):
        with _open(_band_file(folder, band)) as dataset:
            reproject(rasterio.band(dataset, 1), layer, dst_transform=grid.transform, dst_crs=grid.crs,
                      dst_nodata=np.nan, resampling=Resampling.nearest)
    return stack, grid.profile(bands=BANDS, time=s2_time(folder))


def read_s1(folder):
    """VV and VH (dB, float32) of a Sentinel-1 patch on its own grid, and a profile for ``save_stack``."""
    layers = []
    for band in SAR_BANDS:
        with _open(_band_file(folder, band)) as dataset:
            layers.append(dataset.read(1, out_dtype=np.float32))
            grid = Grid.of(dataset)
    return np.stack(layers), grid.profile(bands=SAR_BANDS, time=s1_time(folder))


def _band_file(folder, band):
    path = Path(folder) / f"{Path(folder).name}_{band}.tif"
    if not path.is_file():
        raise InputError(f"patch {Path(folder).name} has no band {band}")
    return path


def _open(path):
    try:
        return rasterio.open(path)
    except RasterioIOError:
        raise InputError(f"{Path(path).name} cannot be read as a raster") from None
