"""Statistics of a pair, from a fixed sample of it: band and feature moments, distances.

Statistics come from all of the image up to :data:`SAMPLE_PIXELS`, else from an even grid of
patches. The sample depends only on the raster's size, so the result is the same whatever
the processing window, and a full Sentinel-2 tile costs one pass of reading and encoding.
"""

import math
from dataclasses import dataclass

import numpy as np
from rasterio.windows import Window

from ..errors import InputError
from ..rasters.reading import windows
from .features import RawFeatures
from .mapping import ProbabilityMapping
from .pairs import read_block

#: Pixels (per image) from which statistics are taken; larger rasters are sampled.
SAMPLE_PIXELS = 4 * 2**20
SAMPLE_PATCH = 512


@dataclass
class Statistics:
    band_mean: np.ndarray  # (2, bands)
    band_std: np.ndarray
    feature_mean: np.ndarray  # (2, features)
    feature_std: np.ndarray
    mapping: "ProbabilityMapping"


def sample_windows(width, height, pixels=SAMPLE_PIXELS, patch=SAMPLE_PATCH):
    """Windows (offsets even) from which statistics are taken: the whole raster when small,
    else an even grid of ``patch`` x ``patch`` patches adding up to about ``pixels``."""
    if width * height <= pixels:
        return list(windows(width, height, patch))
    per_side = max(1, int(math.sqrt(pixels / patch**2)))
    rows = _spread(height, patch, per_side)
    cols = _spread(width, patch, per_side)
    return [Window(c, r, min(patch, width - c), min(patch, height - r)) for r in rows for c in cols]


def _spread(length, patch, count):
    if length <= patch:
        return [0]
    step = (length - patch) / max(count - 1, 1)
    return sorted({int(round(i * step)) // 2 * 2 for i in range(count)})


def sample_statistics(pair, grid, features):
    """Band moments, feature moments and the distance-to-probability mapping of a pair.

    Each sample window is read once, with the encoder's halo, and kept until the band
    statistics it takes part in are known (at most :data:`SAMPLE_PIXELS` per image).
    """
    samples = [read_block(pair, block, features, margin=0)
               for block in sample_windows(grid.width, grid.height)]
    band_mean, band_std = band_statistics(samples)
    encoded = [encode(sample, features, band_mean, band_std) for sample in samples]
    feature_sums = sum(np.stack([_moments(np.moveaxis(a, -1, 0), v), _moments(np.moveaxis(b, -1, 0), v)])
                       for a, b, v, _ in encoded)
    feature_mean, feature_std = _mean_std(feature_sums)
    distances = np.concatenate([
        feature_distance(a, b, feature_mean, feature_std, features.weights)[v] for a, b, v, _ in encoded
    ])
    mapping = ProbabilityMapping.fit(distances)
    return Statistics(band_mean, band_std, feature_mean, feature_std, mapping)


def read_samples(pair, grid):
    """The sample windows of a pair (see :func:`sample_windows`), read without halo."""
    return [read_block(pair, block, RawFeatures(), margin=0) for block in sample_windows(grid.width, grid.height)]


def band_statistics(samples):
    """Mean and standard deviation of each band of both images over the pixels valid in both,
    from samples read by :func:`read_samples` (or with a halo, which is left out)."""
    sums = None
    for sample in samples:
        first, second, valid = sample.core()
        moments = np.stack([_moments(first, valid), _moments(second, valid)])
        sums = moments if sums is None else sums + moments
    if sums is None or sums[0, 0, 0] < 16:
        raise InputError("the two images share (almost) no valid pixels")
    return _mean_std(sums)


def _moments(image, valid):
    """Per-band count, sum and sum of squares over ``valid`` pixels.

    Sums of one window are float32 dot products (fast); windows add up in float64.
    """
    mask = valid.reshape(-1).astype(np.float32)
    flat = image.reshape(len(image), -1)
    count = np.full(len(image), mask.sum(), dtype=np.float64)
    return np.stack([count, (flat @ mask).astype(np.float64), (np.square(flat) @ mask).astype(np.float64)], axis=1)


def _mean_std(sums):
    count, total, squares = sums[..., 0], sums[..., 1], sums[..., 2]
    count = np.maximum(count, 1)
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
    return mean, np.where(std > 0, std, 1.0)


def encode(sample, features, band_mean, band_std):
    """Features of both images over a read block, which cells are valid (every pixel they
    cover valid in both images), and which pixels of the window are.

    Standardises the block's images in place.
    """
    cell, halo = features.cell, features.halo
    invalid = ~sample.valid
    for index, image in enumerate((sample.first, sample.second)):
        image -= band_mean[index].astype(np.float32)[:, None, None]
        image /= band_std[index].astype(np.float32)[:, None, None]
        image[:, invalid] = 0.0  # the mean: no data is no signal
    a, b = features([sample.first, sample.second], sample.valid)
    core = sample.valid[halo:sample.valid.shape[0] - halo, halo:sample.valid.shape[1] - halo]
    cells = core.reshape(core.shape[0] // cell, cell, core.shape[1] // cell, cell).all(axis=(1, 3))
    height, width = sample.grown
    rows, cols = -(-height // cell), -(-width // cell)
    _, _, inside = sample.core()
    return a[:rows, :cols], b[:rows, :cols], cells[:rows, :cols], inside


def feature_distance(a, b, feature_mean, feature_std, weights=None):
    """Euclidean distance (channels weighted by ``weights``) between per-image standardised
    features, per cell."""
    mean = feature_mean.astype(np.float32)
    std = feature_std.astype(np.float32)
    difference = (a - mean[0]) / std[0] - (b - mean[1]) / std[1]
    if weights is None:
        return np.sqrt(np.einsum("...c,...c->...", difference, difference))
    return np.sqrt(np.einsum("...c,c,...c->...", difference, weights, difference))
