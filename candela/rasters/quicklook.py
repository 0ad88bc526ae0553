"""Quicklooks: maps of values in [0, 1] as colour PNGs, averaged while the map is written."""

import math
import warnings

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning

#: Longer side of a quicklook, in pixels.
QUICKLOOK_SIZE = 1024
#: A perceptually ordered colour ramp for quicklooks of values in [0, 1] (viridis, 9 stops).
_RAMP = np.array([
    (68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141),
    (39, 173, 129), (92, 200, 99), (170, 220, 50), (253, 231, 37),
], dtype=np.float64)


def colourise(values):
    """RGBA uint8 image of ``values`` in [0, 1] on a viridis ramp; NaN is transparent."""
    values = np.asarray(values, dtype=np.float64)
    valid = np.isfinite(values)
    position = np.clip(np.where(valid, values, 0.0), 0.0, 1.0) * (len(_RAMP) - 1)
    lower = np.floor(position).astype(int)
    upper = np.minimum(lower + 1, len(_RAMP) - 1)
    weight = (position - lower)[..., None]
    rgb = _RAMP[lower] * (1 - weight) + _RAMP[upper] * weight
    rgba = np.empty(values.shape + (4,), dtype=np.uint8)
    rgba[..., :3] = np.round(rgb).astype(np.uint8)
    rgba[..., 3] = np.where(valid, 255, 0)
    return rgba


def write_png(values, destination):
    """Write ``values`` in [0, 1] (NaN: transparent) as a colour PNG at ``destination``."""
    rgba = colourise(values)
    height, width = rgba.shape[:2]
    with warnings.catch_warnings():  # a PNG quicklook has no georeference, by design
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(destination, "w", driver="PNG", width=width, height=height, count=4,
                           dtype="uint8") as png:
            png.write(np.moveaxis(rgba, -1, 0))
    return destination


class Preview:
    """A map averaged over f x f pixel cells while it is written, for its quicklook.

    Averaging the written map again afterwards would read and decompress all of it.
    """

    def __init__(self, grid, size=QUICKLOOK_SIZE):
        self.factor = max(1, math.ceil(max(grid.width, grid.height) / size))
        shape = (math.ceil(grid.height / self.factor), math.ceil(grid.width / self.factor))
        self.sums = np.zeros(shape)
        self.counts = np.zeros(shape)

    def add(self, values, window):
        """Add a window of the map (NaN: no data)."""
        rows = (int(window.row_off) + np.arange(values.shape[0])) // self.factor
        cols = (int(window.col_off) + np.arange(values.shape[1])) // self.factor
        width = cols[-1] - cols[0] + 1
        cells = ((rows[:, None] - rows[0]) * width + (cols[None, :] - cols[0])).ravel()
        finite = np.isfinite(values).ravel()
        size = (rows[-1] - rows[0] + 1) * width
        target = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        self.sums[target] += np.bincount(cells[finite], values.ravel()[finite], size).reshape(-1, width)
        self.counts[target] += np.bincount(cells[finite], minlength=size).reshape(-1, width)

    def write_png(self, destination):
        """The quicklook: the averaged map as a colour PNG."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return write_png(np.where(self.counts > 0, self.sums / self.counts, np.nan), destination)
