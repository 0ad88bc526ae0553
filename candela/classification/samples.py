"""Labelled samples (points, lines or polygons a user drew) turned into labelled pixels of a grid.

Which pixels a sample gives, on the grid's CRS, is :mod:`.coverage`'s rule. A pixel claimed by
samples of different classes is dropped (its class is unknown); claimed by several samples of
one class, it is kept once, for the first of them (a sample can so lose all its pixels, and
give none). A sample with no pixel on the grid is an error.

The cost follows the samples' area, not the grid's: 2000 small polygons on a 10980 x 10980
grid take under a second, one polygon over all of it about three seconds; memory is a byte
per pixel of each sample's bounding window.
"""

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import rasterio
import shapely
from shapely import STRtree

from ..errors import InputError
from .coverage import coverage, windows

#: Pixels kept for training at most: bounds its time and memory (see :func:`sample_pixels`).
MAX_SAMPLE_PIXELS = 200_000
#: Seed of the reproducible thinning of too many pixels.
SEED = 0
#: Feature indexes named in an error message.
SHOWN = 5


def class_labels(features, class_field):
    """The class of each feature, as text (an integer field's 1 becomes ``"1"``; spaces around
    are stripped); InputError when the field is missing, a class empty, or fewer than two."""
    fields = [name for name in features.columns if name != features.geometry.name]
    if class_field not in fields:
        listed = ", ".join(repr(str(name)) for name in fields) or "none"
        raise InputError(f"the samples have no field {class_field!r}; their fields are: {listed}")
    labels = np.array([_text(value) for value in features[class_field]], dtype=object)
    empty = int(sum(label == "" for label in labels))
    if empty:
        raise InputError(f"{empty} of {len(labels)} samples have no class in field {class_field!r}")
    classes = sorted(set(labels))
    if len(classes) < 2:
        found = f"one class, {classes[0]!r}" if classes else "no samples"
        raise InputError(f"the samples have {found}: at least two classes are needed")
    return labels.astype(str)


@dataclass(frozen=True)
class SamplePixels:
    """Labelled pixels: ``rows``, ``cols`` on the grid, each one's class (``labels``) and the
    position of the feature it came from (``groups``, for grouped cross-validation)."""

    rows: np.ndarray
    cols: np.ndarray
    labels: np.ndarray
    groups: np.ndarray

    def __len__(self):
        return len(self.rows)


def sample_pixels(features, labels, grid, max_pixels=MAX_SAMPLE_PIXELS):
    """The pixels of ``grid`` the ``features`` (a GeoDataFrame with a CRS; ``labels`` their
    classes, in order) give, as the module says, by feature then row by row. More than
    ``max_pixels`` are thinned at random (seeded: the same input gives the same pixels), each
    feature keeping one pixel and a share of the rest proportional to its number of pixels."""
    labels = np.asarray(labels, dtype=str)
    if len(labels) != len(features):
        raise ValueError(f"{len(labels)} labels for {len(features)} features")
    if features.crs is None:
        raise InputError("the samples have no coordinate reference system")
    geometries = features.to_crs(grid.crs.to_wkt()).geometry.to_numpy()
    missing = np.flatnonzero(shapely.is_missing(geometries) | shapely.is_empty(geometries))
    if len(missing):
        raise InputError(f"{len(missing)} of {len(features)} samples have no geometry "
                         f"(features {_shown(features.index[missing])})")
    with rasterio.Env():  # one GDAL environment for all the rasterizations, not one each
        covered = [coverage(geometry, window, grid)
                   for geometry, window in zip(geometries, windows(geometries, grid))]
    outside = np.flatnonzero([not c.mask.any() for c in covered])
    if len(outside):
        raise InputError(f"{len(outside)} of {len(features)} samples lie outside the image "
                         f"(features {_shown(features.index[outside])})")
    _drop_ambiguous(covered, pd.factorize(labels)[0])
    sizes = np.array([np.count_nonzero(c.mask) for c in covered])
    rng = np.random.default_rng(SEED)
    quotas = _quotas(sizes, max_pixels)
    chosen = [_chosen(c.mask, size, quota, rng) for c, size, quota in zip(covered, sizes, quotas)]
    rows = np.concatenate([c.row0 + rows for c, (rows, _) in zip(covered, chosen)]).astype(np.int64)
    cols = np.concatenate([c.col0 + cols for c, (_, cols) in zip(covered, chosen)]).astype(np.int64)
    groups = np.repeat(np.arange(len(covered)), [len(rows) for rows, _ in chosen])
    return SamplePixels(rows, cols, labels[groups], groups)


def _drop_ambiguous(covered, codes):
    """Clear, in place in each Coverage's mask, the pixels another sample of another class
    (``codes``) covers too, and those an earlier sample of its class covers; judged on the
    masks as they came (a pixel of three samples is judged on all three)."""
    dropped = [None] * len(covered)
    for first, second in _overlapping(covered):
        ours, theirs = covered[first].shared(covered[second])
        both = ours & theirs
        if not both.any():
            continue
        for loser in (second,) if codes[first] == codes[second] else (first, second):
            other = covered[second if loser == first else first]
            if dropped[loser] is None:
                dropped[loser] = replace(covered[loser], mask=np.zeros_like(covered[loser].mask))
            dropped[loser].shared(other)[0][...] |= both
    for each, drop in zip(covered, dropped):
        if drop is not None:
            each.mask[drop.mask] = False


def _overlapping(covered):
    """Pairs (first, second), first < second, of the Coverages whose windows share pixels."""
    corners = np.array([(c.col0, c.row0, c.col0 + c.mask.shape[1], c.row0 + c.mask.shape[0]) for c in covered])
    boxes = shapely.box(*corners.T)
    firsts, seconds = STRtree(boxes).query(boxes, predicate="intersects")
    return [(first, second) for first, second in zip(firsts.tolist(), seconds.tolist())
            if first < second and covered[first].shared(covered[second]) is not None]


def _quotas(sizes, max_pixels):
    """Pixels each sample keeps: all, when they add up to ``max_pixels`` at most; else one each
    and the rest of ``max_pixels`` shared in proportion to the sizes."""
    total, present = int(sizes.sum()), (sizes > 0).astype(np.int64)
    if total <= max_pixels:
        return sizes
    spare = max(max_pixels - int(present.sum()), 0)
    return present + (sizes - present) * spare // (total - int(present.sum()))


def _chosen(mask, size, quota, rng):
    """(rows, cols) in ``mask`` of ``quota`` of its ``size`` pixels picked at random (all of them
    when ``quota`` is ``size``), in row order, without listing every pixel of a large mask."""
    if quota >= size:
        return np.nonzero(mask)
    ranks = np.sort(rng.choice(size, quota, replace=False))
    per_row = np.count_nonzero(mask, axis=1)
    ends = np.cumsum(per_row)
    rows = np.searchsorted(ends, ranks, side="right")
    offsets = ranks - (ends[rows] - per_row[rows])
    cols = np.empty_like(ranks)
    for row in np.unique(rows):
        at = rows == row
        cols[at] = np.flatnonzero(mask[row])[offsets[at]]
    return rows, cols


def _text(value):
    """A class value as text: "" when missing; integral numbers without a decimal point."""
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return ""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def _shown(index):
    return ", ".join(str(value) for value in index[:SHOWN]) + (", ..." if len(index) > SHOWN else "")
