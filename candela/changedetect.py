"""Change probability between two dates from the distance between their encoded features.

The chain, identical for both methods but for the features compared:

1. Each image's bands are standardised by their own mean and standard deviation (over the
   pixels valid in both images): radiometric differences between the dates (season,
   illumination, atmosphere, L1C against L2A) mostly vanish.
2. ``autoencoder``: both images go through the encoder (features on 2 x 2 pixel cells),
   joined by each cell's mean standardised bands, and each feature channel is standardised
   again per image. ``raw``: the standardised bands are the features (this is zCVA).
3. The Euclidean distance between the two dates' features, per cell, is interpolated
   bilinearly back to pixels.
4. The distance becomes a probability of change. Most pixels of a pair do not change, so
   the peak of the distribution of ``log(distance)`` is the no-change bulk: a normal curve
   fitted to it (Efron's central matching) says how many of its deviations a distance lies
   above it, and a logistic curve turns that into a probability (:class:`ProbabilityMapping`).

Statistics (band moments, feature moments and the distance histogram) come from a fixed
sample of the image: all of it up to :data:`SAMPLE_PIXELS`, else an even grid of patches.
The sample depends only on the raster's size, so the result is the same whatever the
processing window, and a full Sentinel-2 tile costs one pass of reading and encoding.
"""

import json
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

from . import autoencoder
from .rasters.env import gdal_threads
from .rasters.geotiff import float_profile
from .rasters.grid import Grid, aligned
from .rasters.quicklook import Preview
from .rasters.reading import MAX_PIXELS, band_indexes, open_raster, read_masked, windows
from .autoencoder import STRIDE
from .errors import InputError

METHODS = ("autoencoder", "raw")
DEFAULT_MODEL = "oscd-ae-v1"
#: Model ids are folder names: letters, digits, '-', '_' and '.', not starting with a dot.
MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
#: Pixels (per image) from which statistics are taken; larger rasters are sampled.
SAMPLE_PIXELS = 4 * 2**20
SAMPLE_PATCH = 512
#: Default weight of the cell-mean bands in the feature distance (see EncodedFeatures): chosen
#: on the labelled OSCD cities among 1, 2, 4, 8 and 16 (best AUROC).
BAND_WEIGHT = 4.0
DEFAULT_WINDOW = 1024
#: GDAL's block cache while detecting (bytes): windows are read once, so a small cache is
#: enough, and peak memory does not grow with the rasters (GDAL's default is 5 % of RAM).
CACHE_BYTES = 128 * 2**20
NODATA = np.float32(np.nan)
HISTOGRAM_BINS = 256
#: Distance-to-probability curve, in null deviations of log distance (see ProbabilityMapping);
#: chosen on the labelled OSCD cities, where it maximised block correlation for zCVA.
MIDPOINT = 2.5
SLOPE = 3.0
#: Added to distances before the logarithm: far below a real difference (distances of
#: standardised features are of order 1), far above float32 noise between identical images.
DISTANCE_FLOOR = 0.01


def models_dir():
    """Where models live: ``$CANDELA_MODELS``, else the repository's ``models/``."""
    return Path(os.environ.get("CANDELA_MODELS") or Path(__file__).resolve().parents[1] / "models")


@dataclass
class Model:
    """A trained model: its id, metadata and weights file."""

    id: str
    metadata: dict
    weights: Path

    @property
    def bands(self):
        return tuple(self.metadata["bands"])

    @property
    def band_weight(self):
        """Weight of each cell-mean band against a learned feature in the distance."""
        return float(self.metadata.get("comparison", {}).get("band_weight", BAND_WEIGHT))

    def encoder(self):
        return autoencoder.Encoder(self.metadata["architecture"], self.weights)


def available_models(directories=None):
    """Ids of the models in ``directories`` (default: :func:`models_dir`)."""
    found = set()
    for directory in _directories(directories):
        found.update(p.parent.name for p in Path(directory).glob("*/metadata.json")
                     if (p.parent / "encoder.weights.h5").exists())
    return sorted(found)


def load_model(model_id=None, directories=None):
    """The model ``model_id`` (default :data:`DEFAULT_MODEL`), looked up in ``directories`` in
    order; an unknown id is an InputError listing the shipped models (:func:`models_dir`) only:
    other directories may hold models users trained, whose ids are not for every client to see."""
    model_id = (model_id or DEFAULT_MODEL).strip()
    for directory in _directories(directories):
        folder = Path(directory) / model_id
        if MODEL_ID.fullmatch(model_id) and (folder / "metadata.json").exists() and (folder / "encoder.weights.h5").exists():
            metadata = json.loads((folder / "metadata.json").read_text())
            return Model(model_id, metadata, folder / "encoder.weights.h5")
    shipped = available_models()
    raise InputError(f"unknown model {model_id!r}; shipped models: {', '.join(shipped) or 'none'} "
                     "(a model trained by a user must be named exactly)")


def _directories(directories):
    if directories is None:
        return [models_dir()]
    if isinstance(directories, (str, Path)):
        return [directories]
    return list(directories)


def check_method(method):
    method = (method or "autoencoder").strip().lower()
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    return method


def detect(before, after, destination, method="autoencoder", model=None, window=DEFAULT_WINDOW, quicklook=None,
           progress=None, max_pixels=MAX_PIXELS):
    """Write the change probability between ``before`` and ``after`` as a GeoTIFF.

    Parameters
    ----------
    before, after : str or Path
        Rasters with the model's bands (named by their descriptions, else in the model's
        order). ``after`` is resampled onto the grid of ``before`` when they differ.
    destination : str or Path
        The float32 GeoTIFF to write, on the grid of ``before``: probability of change in
        [0, 1], NaN where either image has no data.
    method : {'autoencoder', 'raw'}
    model : Model or str, optional
        A :class:`Model` or a model id (default :data:`DEFAULT_MODEL`). ``raw`` uses only its bands.
    window : int
        Processing window in pixels (even); memory grows with its square, not the raster's size.
    quicklook : str or Path, optional
        Also write a colour PNG preview of the map there (built while the map is written).
    max_pixels : int
        Larger inputs (width x height x bands) are refused before any work.

    Returns a summary dict: changed fraction at 0.5, histogram, model, grid and timings.
    """
    method = check_method(method)
    model = model if isinstance(model, Model) else load_model(model)
    window = _even(window)
    timings = dict(reading=0.0, encoding=0.0, writing=0.0)
    started = time.perf_counter()
    with rasterio.Env(GDAL_CACHEMAX=CACHE_BYTES, GDAL_NUM_THREADS=gdal_threads()), \
            _open(before, "before", max_pixels) as first, _open(after, "after", max_pixels) as second:
        grid = Grid.of(first)
        first_bands = _bands(first, model.bands, "before")
        second_bands = _bands(second, model.bands, "after")
        with aligned(second, grid, name="after", reference="the 'before' raster") as seen:
            pair = Pair(first, first_bands, seen, second_bands, timings)
            features = _features(method, model, timings)
            if progress:
                progress(0.02, "Sampling statistics")
            stats = sample_statistics(pair, grid, features)
            if progress:
                progress(0.1, "Detecting change")
            preview = Preview(grid) if quicklook else None
            histogram = _write_probability(pair, grid, features, stats, destination, window, preview, progress)
    if preview:
        preview.write_png(quicklook)
    timings["total"] = time.perf_counter() - started
    return _summary(destination, method, model, grid, stats, histogram, timings)


def detect_arrays(before, after, method="autoencoder", model=None, window=None):
    """Change probability of two co-registered ``(bands, rows, cols)`` arrays (NaN = no data).

    The same computation as :func:`detect`, in memory; ``window=None`` processes the image
    in one piece.
    """
    method = check_method(method)
    model = model if isinstance(model, Model) else load_model(model)
    timings = dict(reading=0.0, encoding=0.0, writing=0.0)
    pair = ArrayPair(np.asarray(before, np.float32), np.asarray(after, np.float32))
    _, height, width = pair.before.shape
    grid = Grid(None, None, width, height)
    features = _features(method, model, timings)
    stats = sample_statistics(pair, grid, features)
    size = _even(window or max(width, height))
    result = np.full((height, width), NODATA, dtype=np.float32)
    for block in windows(width, height, size):
        rows, cols = block.toslices()
        result[rows, cols] = _probability_block(pair, block, features, stats)
    return result


# Reading


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


# Features


class RawFeatures:
    """The standardised bands themselves, at full resolution."""

    name = "raw"
    cell = 1
    halo = 0
    weights = None

    def __call__(self, images, valid):
        return [np.moveaxis(image, 0, -1) for image in images]


class EncodedFeatures:
    """Encoder features on 2 x 2 cells, followed by the cells' mean standardised bands.

    The learned features see a neighbourhood; the band means keep the plain spectral
    difference the encoder may blur. In the distance the band means weigh ``band_weight``
    each, a learned feature 1 (so by default the two halves weigh the same).
    """

    name = "autoencoder"
    cell = STRIDE

    def __init__(self, model, timings):
        self.encoder = model.encoder()
        self.halo = self.encoder.halo
        self.timings = timings
        learned = model.metadata["architecture"]["features"]
        self.weights = np.concatenate([np.ones(learned), np.full(len(model.bands), model.band_weight)]).astype(np.float32)

    def __call__(self, images, valid):
        started = time.perf_counter()
        batch = np.stack([np.moveaxis(image, 0, -1) for image in images])
        encoded = self.encoder.encode(batch)
        self.timings["encoding"] += time.perf_counter() - started
        rows, cols = encoded.shape[1:3]
        core = batch[:, self.halo:self.halo + 2 * rows, self.halo:self.halo + 2 * cols]
        means = core.reshape(2, rows, 2, cols, 2, -1).mean(axis=(2, 4))
        features = np.concatenate([encoded, means], axis=-1)
        return [features[0], features[1]]


def _features(method, model, timings):
    return EncodedFeatures(model, timings) if method == "autoencoder" else RawFeatures()


# Statistics


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
    samples = [_read_block(pair, block, features, margin=0)
               for block in sample_windows(grid.width, grid.height)]
    band_mean, band_std = band_statistics(samples)
    encoded = [_encode(sample, features, band_mean, band_std) for sample in samples]
    feature_sums = sum(np.stack([_moments(np.moveaxis(a, -1, 0), v), _moments(np.moveaxis(b, -1, 0), v)])
                       for a, b, v, _ in encoded)
    feature_mean, feature_std = _mean_std(feature_sums)
    distances = np.concatenate([
        _distance(a, b, feature_mean, feature_std, features.weights)[v] for a, b, v, _ in encoded
    ])
    mapping = ProbabilityMapping.fit(distances)
    return Statistics(band_mean, band_std, feature_mean, feature_std, mapping)


def read_samples(pair, grid):
    """The sample windows of a pair (see :func:`sample_windows`), read without halo."""
    return [_read_block(pair, block, RawFeatures(), margin=0) for block in sample_windows(grid.width, grid.height)]


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


@dataclass
class _Block:
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


def _read_block(pair, block, features, margin):
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
    return _Block(first, second, valid, halo + grow, int(block.height), int(block.width), (height, width))


def _encode(sample, features, band_mean, band_std):
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


def _distance(a, b, feature_mean, feature_std, weights=None):
    """Euclidean distance (channels weighted by ``weights``) between per-image standardised
    features, per cell."""
    mean = feature_mean.astype(np.float32)
    std = feature_std.astype(np.float32)
    difference = (a - mean[0]) / std[0] - (b - mean[1]) / std[1]
    if weights is None:
        return np.sqrt(np.einsum("...c,...c->...", difference, difference))
    return np.sqrt(np.einsum("...c,c,...c->...", difference, weights, difference))


# Distance to probability


@dataclass
class ProbabilityMapping:
    """Monotone map from feature distance to probability of change, fitted on one pair.

    The no-change bulk of ``log(distance)`` is matched by a normal curve (Efron's central
    matching: a parabola fitted to the log-histogram around its peak), giving its centre
    ``null_mean`` and spread ``null_std``. A distance ``k`` null deviations above the centre
    gets ``p = 1 / (1 + exp(-SLOPE * (k - MIDPOINT)))``: 0.01 at 1, 0.18 at 2, 0.82 at 3 and
    0.99 at 4 deviations. Strictly increasing, so it keeps the ranking of distances.
    """

    null_mean: float
    null_std: float

    @classmethod
    def fit(cls, distances):
        """Fit on the distances of one pair."""
        z = np.log(np.asarray(distances, dtype=np.float64) + DISTANCE_FLOOR)
        low, high = np.quantile(z, [0.0005, 0.99995])
        if not high > low:  # identical images: every distance is the same, nothing changed
            return cls(float(high), 0.05)
        counts, edges = np.histogram(z, bins=HISTOGRAM_BINS, range=(low, high))
        centres = (edges[:-1] + edges[1:]) / 2
        mean, std = _central_fit(z, centres, counts)
        return cls(float(mean), float(std))

    def __call__(self, distance):
        distance = np.asarray(distance, dtype=np.float32)
        values = np.log(np.atleast_1d(distance) + np.float32(DISTANCE_FLOOR))
        values -= np.float32(self.null_mean + MIDPOINT * self.null_std)
        values *= np.float32(-SLOPE / self.null_std)
        np.exp(values, out=values)
        values += 1
        return np.reciprocal(values, out=values).reshape(distance.shape)

    def as_dict(self):
        return dict(null_log_distance_mean=self.null_mean, null_log_distance_std=self.null_std,
                    midpoint_deviations=MIDPOINT, slope=SLOPE)


def _central_fit(z, centres, counts):
    """Centre and spread of the normal curve matched to the peak of the histogram of ``z``."""
    median = float(np.median(z))
    q1, q3 = np.quantile(z, [0.25, 0.75])
    spread = max(float(q3 - q1) / 1.349, 1e-3)
    central = (np.abs(centres - median) <= 1.5 * spread) & (counts > 0)
    if central.sum() >= 5:
        a, b, _ = np.polyfit(centres[central], np.log(counts[central]), 2, w=np.sqrt(counts[central]))
        if a < 0:
            return -b / (2 * a), max(math.sqrt(-1 / (2 * a)), 1e-3)
    return median, spread


# The main pass


def _probability_block(pair, block, features, stats):
    """Probability of change over ``block`` (NaN where either image has no data)."""
    margin = 1 if features.cell > 1 else 0
    sample = _read_block(pair, block, features, margin)
    a, b, _, valid = _encode(sample, features, stats.band_mean, stats.band_std)
    distance = _distance(a, b, stats.feature_mean, stats.feature_std, features.weights)
    if features.cell > 1:
        distance = _to_pixels(distance, int(block.height), int(block.width))
    probability = stats.mapping(distance)
    probability[~valid] = NODATA
    return probability


def _to_pixels(cells, height, width):
    """Bilinear interpolation of 2 x 2 cell values (with a one-cell margin) back to pixels.

    Cell ``m`` of the margin-grown grid is centred on pixel coordinate ``2 m - 1``, so pixel
    ``2 k`` lies a quarter of the way from cell ``k + 1`` towards cell ``k``, and pixel
    ``2 k + 1`` a quarter of the way from cell ``k + 1`` towards cell ``k + 2``.
    """
    return _upsample_axis(_upsample_axis(cells, height, axis=0), width, axis=1)


def _upsample_axis(values, length, axis):
    values = np.moveaxis(values, axis, 0)
    pairs = (length + 1) // 2
    out = np.empty((2 * pairs,) + values.shape[1:], dtype=np.float32)
    centre = values[1:pairs + 1]
    out[0::2] = 0.75 * centre + 0.25 * values[0:pairs]
    out[1::2] = 0.75 * centre + 0.25 * values[2:pairs + 2]
    return np.moveaxis(out[:length], 0, axis)


def _write_probability(pair, grid, features, stats, destination, window, preview, progress):
    profile = float_profile(grid, count=1, nodata=NODATA, NUM_THREADS=gdal_threads())
    counts = np.zeros(10, dtype=np.int64)
    blocks = list(windows(grid.width, grid.height, window))
    with rasterio.open(destination, "w", **profile) as out:
        out.set_band_description(1, "change_probability")
        for number, block in enumerate(blocks, start=1):
            probability = _probability_block(pair, block, features, stats)
            started = time.perf_counter()
            out.write(probability, 1, window=block)
            pair.timings["writing"] += time.perf_counter() - started
            if preview:
                preview.add(probability, block)
            finite = probability[np.isfinite(probability)]
            counts += np.bincount(np.minimum((finite * 10).astype(np.int64), 9), minlength=10)
            if progress:
                progress(0.1 + 0.9 * number / len(blocks), f"Window {number} of {len(blocks)}")
    return counts


def _summary(destination, method, model, grid, stats, histogram, timings):
    valid = int(histogram.sum())
    changed = int(histogram[5:].sum())
    return dict(
        path=str(destination),
        method=method,
        model=model.id if method == "autoencoder" else None,
        bands=list(model.bands),
        width=grid.width,
        height=grid.height,
        crs=str(grid.crs),
        valid_pixels=valid,
        changed_fraction=changed / valid if valid else None,
        histogram=dict(edges=[round(x, 1) for x in np.linspace(0, 1, 11)], counts=histogram.tolist()),
        mapping=stats.mapping.as_dict(),
        timings_s={k: round(v, 3) for k, v in timings.items()},
    )


# Helpers


class _open:
    """Open a raster, blaming problems on the named input."""

    def __init__(self, path, name, max_pixels):
        self.path, self.name, self.max_pixels = path, name, max_pixels

    def __enter__(self):
        try:
            self.dataset = open_raster(self.path, max_pixels=self.max_pixels)
        except InputError as error:
            raise InputError(str(error), input=self.name) from None
        return self.dataset

    def __exit__(self, *exc):
        self.dataset.close()


def _bands(dataset, expected, name):
    try:
        return band_indexes(dataset, expected)
    except InputError as error:
        raise InputError(str(error), input=name) from None


def _even(size):
    size = int(size)
    if size < 2:
        raise ValueError("window must be at least 2 pixels")
    return size + size % 2
