"""Synthetic measurement rasters for Sentinel-1 GRD products whose ``measurement/`` is empty.

:func:`write_grd_measurements` writes, for each polarisation annotated in a ``.SAFE`` folder,
the DN raster the product would hold (``measurement/<annotation stem>.tiff``: uint16 of the
annotated size, tiled and DEFLATE-compressed, carrying the geolocation grid as GCPs like the
real ones), so that calibration and geocoding can be tested on real metadata. The scene is a
constant background per polarisation with rectangles of other DNs (blocks): their positions
come from ``seed``, or are given as ``pattern``. :func:`write_zip` zips the product again.
"""

import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning
from rasterio.windows import Window

from ..safe.sentinel1 import ANNOTATION, geolocation_grid, grid_gcps
from ..safe.xml import parse_xml

#: Background DN per polarisation: about -10 dB (VV) and -21 dB (VH) with real LUTs.
BACKGROUND = {"VV": 180, "VH": 60, "HH": 180, "HV": 60}
#: DNs of the default blocks: a bright target and a dark (water-like) one, per polarisation.
BRIGHT = {"VV": 1500, "VH": 600, "HH": 1500, "HV": 600}
DARK = {"VV": 25, "VH": 12, "HH": 25, "HV": 12}
STRIP_LINES = 1024
BLOCKSIZE = 512


@dataclass(frozen=True)
class Block:
    """A rectangle of the image, in lines and pixels, holding ``dn`` (an int or {polarisation: int})."""

    line: int
    pixel: int
    lines: int
    pixels: int
    dn: object

    def value(self, polarisation):
        """The DN of this block in ``polarisation``."""
        return int(self.dn[polarisation] if isinstance(self.dn, dict) else self.dn)


def default_pattern(width, height, seed=0):
    """Blocks placed by ``seed``: two bright and two dark ones, each 1/20 of the image wide."""
    rng = np.random.default_rng(seed)
    size_lines, size_pixels = max(1, height // 20), max(1, width // 20)
    blocks = []
    for dn in (BRIGHT, BRIGHT, DARK, DARK):
        line = int(rng.integers(size_lines, max(size_lines + 1, height - 2 * size_lines)))
        pixel = int(rng.integers(size_pixels, max(size_pixels + 1, width - 2 * size_pixels)))
        blocks.append(Block(line, pixel, size_lines, size_pixels, dn))
    return tuple(blocks)


def write_grd_measurements(safe_folder, seed=0, pattern=None):
    """Write a DN raster for every polarisation annotated in ``safe_folder``.

    ``pattern`` is a sequence of :class:`Block` (or ``(line, pixel, lines, pixels, dn)``
    tuples), painted in order over the background; by default :func:`default_pattern`.
    Returns ``{polarisation: path}``.
    """
    safe = Path(safe_folder)
    written = {}
    for annotation in sorted((safe / "annotation").glob("*.xml")):
        match = ANNOTATION.match(annotation.name)
        if not match:
            continue
        polarisation = match.group(4).upper()
        root = parse_xml(annotation.read_bytes(), annotation.name)
        width = int(root.findtext("imageAnnotation/imageInformation/numberOfSamples"))
        height = int(root.findtext("imageAnnotation/imageInformation/numberOfLines"))
        blocks = default_pattern(width, height, seed) if pattern is None else tuple(
            b if isinstance(b, Block) else Block(*b) for b in pattern)
        gcps = grid_gcps(geolocation_grid(root, polarisation))
        target = safe / "measurement" / f"{annotation.stem}.tiff"
        target.parent.mkdir(exist_ok=True)
        _write_raster(target, width, height, polarisation, blocks, gcps)
        written[polarisation] = target
    return written


def _write_raster(path, width, height, polarisation, blocks, gcps):
    profile = dict(driver="GTiff", width=width, height=height, count=1, dtype="uint16", tiled=True,
                   blockxsize=BLOCKSIZE, blockysize=BLOCKSIZE, compress="DEFLATE", zlevel=1)
    background = BACKGROUND.get(polarisation, 100)
    with warnings.catch_warnings():
        # Georeferenced by the GCPs set just after opening.
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        out = rasterio.open(path, "w", **profile)
    with out:
        out.gcps = (gcps, "EPSG:4326")
        for row in range(0, height, STRIP_LINES):
            lines = min(STRIP_LINES, height - row)
            strip = np.full((lines, width), background, dtype=np.uint16)
            for block in blocks:
                top, bottom = max(block.line, row), min(block.line + block.lines, row + lines)
                if top < bottom:
                    strip[top - row:bottom - row, max(block.pixel, 0):block.pixel + block.pixels] = (
                        block.value(polarisation))
            out.write(strip, 1, window=Window(0, row, width, lines))


def write_zip(safe_folder, destination):
    """Zip ``safe_folder`` as ESA does (``NAME.SAFE/...`` members); rasters are stored uncompressed."""
    safe = Path(safe_folder)
    destination = Path(destination)
    with zipfile.ZipFile(destination, "w") as archive:
        for path in sorted(safe.rglob("*")):
            name = f"{safe.name}/{path.relative_to(safe).as_posix()}"
            if path.is_dir():
                archive.writestr(name + "/", b"")
            else:
                kind = zipfile.ZIP_STORED if path.suffix == ".tiff" else zipfile.ZIP_DEFLATED
                archive.write(path, name, compress_type=kind)
    return destination

