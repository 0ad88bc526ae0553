"""The two images of a pair, read window by window on one grid, with halos."""

import time
from dataclasses import dataclass

import numpy as np
from rasterio.windows import Window

from ..errors import InputError
from ..rasters.reading import read_masked


class Pair:
    """The two images, read window by window on the grid of the first."""

    def __init__(self, first, first_bands, second, second_bands, timings):
        self.sources = ((first, first_bands), (second, second_bands))
        self.timings = timings

    def read(self, window):
        """Both images in ``window`` (boundless) as float32, and where both are valid."""
        started = time.perf_counter()
        images, valid = [], None
        for dataset, bands in self.sources:
            values, ok = read_masked(dataset, bands, window)
            images.append(values)
            valid = ok if valid is None else valid & ok
        self.timings["reading"] += time.perf_counter() - started
        return images[0], images[1], valid


class ArrayPair:
    """Two in-memory images with the interface of :class:`Pair`."""

    def __init__(self, before, after):
        if before.shape != after.shape:
            raise InputError(f"the two images differ in shape: {before.shape} and {after.shape}")
        self.before, self.after = before, after

    def read(self, window):
        images = [_boundless(image, window) for image in (self.before, self.after)]
        valid = np.isfinite(images[0]).all(axis=0) & np.isfinite(images[1]).all(axis=0)
        for image in images:
            image[:, ~valid] = 0
        return images[0], images[1], valid


def _boundless(image, window):
    bands, height, width = image.shape
    out = np.full((bands, int(window.height), int(window.width)), np.nan, dtype=np.float32)
    row0, col0 = int(window.row_off), int(window.col_off)
    rows = slice(max(row0, 0), min(row0 + int(window.height), height))
    cols = slice(max(col0, 0), min(col0 + int(window.width), width))
    if rows.start < rows.stop and cols.start < cols.stop:
        out[:, rows.start - row0:rows.stop - row0, cols.start - col0:cols.stop - col0] = image[:, rows, cols]
    return out


@dataclass
class Block:
    """Both images read over a window grown by a margin of cells and the encoder's halo."""

    first: np.ndarray
    second: np.ndarray
    valid: np.ndarray
    offset: int  # pixels from the read's edge to the window's (halo + margin)
    height: int  # the window's size
    width: int
    grown: tuple  # (rows, cols) of the window grown by the margin

    def core(self):
        """The window itself: both images and where both are valid."""
        rows = slice(self.offset, self.offset + self.height)
        cols = slice(self.offset, self.offset + self.width)
        return self.first[:, rows, cols], self.second[:, rows, cols], self.valid[rows, cols]


def read_block(pair, block, features, margin):
    """Read ``block`` grown by ``margin`` cells and the encoder's halo, padded to whole cells."""
    cell, halo = features.cell, features.halo
    grow = margin * cell
    width = int(block.width) + 2 * grow
    height = int(block.height) + 2 * grow
    # Encoder input sizes must be even: pad the window (boundless) and crop the result.
    padded_width, padded_height = width + width % cell, height + height % cell
    read = Window(block.col_off - grow - halo, block.row_off - grow - halo,
                  padded_width + 2 * halo, padded_height + 2 * halo)
    first, second, valid = pair.read(read)
    return Block(first, second, valid, halo + grow, int(block.height), int(block.width), (height, width))
