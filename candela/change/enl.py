"""The equivalent number of looks (ENL) of speckled images, estimated from homogeneous areas."""

import numpy as np
from scipy import ndimage

from ..errors import InputError

#: Local statistics are taken over ENL_BLOCK x ENL_BLOCK pixels.
ENL_BLOCK = 16
MIN_ENL_BLOCKS = 50
#: Kernel width (natural log of the ENL) of the density of local ENLs: 5 %.
ENL_BANDWIDTH = 0.05
#: A density peak counts as a cluster of blocks when it reaches this fraction of the highest one.
PEAK_FRACTION = 0.25


def local_enl(values, block=ENL_BLOCK):
    """mean^2 / variance over every complete, fully valid ``block`` x ``block`` of a 2-D array."""
    rows, cols = (values.shape[0] // block) * block, (values.shape[1] // block) * block
    if not rows or not cols:
        return np.empty(0)
    blocks = values[:rows, :cols].reshape(rows // block, block, cols // block, block).swapaxes(1, 2)
    blocks = blocks.reshape(-1, block * block).astype(np.float64)
    blocks = blocks[np.isfinite(blocks).all(axis=1) & (blocks > 0).all(axis=1)]
    mean = blocks.mean(axis=1)
    variance = blocks.var(axis=1, ddof=1)
    keep = variance > 0
    return mean[keep] ** 2 / variance[keep]


def estimate_enl(samples, block=ENL_BLOCK):
    """The ENL of homogeneous areas in ``samples`` (2-D arrays of linear intensities, NaN invalid).

    Each block x block pixels gives a local ENL = mean^2 / variance. Homogeneous blocks (pure
    speckle) cluster around the true ENL; texture, edges and change only add variance, so
    they spread below it. The estimate is the highest-ENL peak of the density of log local
    ENLs (Gaussian kernel) that reaches PEAK_FRACTION of the highest peak: the homogeneous
    cluster even where it is not the majority, without the upward bias of keeping only the
    lowest coefficients of variation. Returns (enl, number of blocks).
    """
    local = np.concatenate([local_enl(np.asarray(s), block) for s in samples] or [np.empty(0)])
    local = local[np.isfinite(local) & (local > 0)]
    if local.size < MIN_ENL_BLOCKS:
        raise InputError(f"too few valid {block} x {block} pixel blocks ({local.size}) to estimate the ENL; "
                         "give it as a number", input="enl")
    logs = np.log(local)
    if np.ptp(logs) < ENL_BANDWIDTH:
        return float(np.exp(np.median(logs))), int(local.size)
    # A Gaussian kernel density as a finely binned histogram smoothed by the kernel. Its width
    # is fixed: a rule of thumb on the whole sample (a mixture) would blur the narrow
    # homogeneous cluster into its neighbours.
    step = ENL_BANDWIDTH / 8
    edges = np.arange(logs.min() - 4 * ENL_BANDWIDTH, logs.max() + 4 * ENL_BANDWIDTH + step, step)
    counts, edges = np.histogram(logs, edges)
    density = ndimage.gaussian_filter1d(counts.astype(np.float64), 8, mode="constant")
    peaks = np.flatnonzero((density[1:-1] >= density[:-2]) & (density[1:-1] > density[2:])) + 1
    strong = peaks[density[peaks] >= PEAK_FRACTION * density.max()]
    centres = (edges[:-1] + edges[1:]) / 2
    return float(np.exp(centres[strong.max()])), int(local.size)
