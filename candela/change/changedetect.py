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
   above it, and a logistic curve turns that into a probability
   (:class:`~candela.change.mapping.ProbabilityMapping`).

5. A ``target`` other than ``any`` keeps only one kind of change: the probability is
   multiplied by a gate read from each pixel's spectral indices on both dates
   (:mod:`candela.change.targets`).

Statistics (band moments, feature moments and the distance histogram) come from a fixed
sample of the image (:mod:`candela.change.statistics`), so the result is the same whatever
the processing window.

The windows of the probability pass run on an engine (:mod:`candela.compute`): here, one
after the other (the default), or as tasks on a Dask cluster, each of which re-opens the
rasters by path (:class:`WindowTask`); the same functions compute every window either way.
"""

import copy
import functools
import os
import time
from contextlib import ExitStack, closing
from dataclasses import dataclass

import numpy as np
import rasterio

from ..compute import SerialEngine, reopening, task_path
from ..errors import InputError
from ..learning.models import Model, load_model
from ..rasters.dating import acquisition_time, format_time
from ..rasters.env import gdal_threads
from ..rasters.geotiff import float_profile
from ..rasters.grid import Grid, aligned
from ..rasters.quicklook import Preview
from ..rasters.reading import MAX_PIXELS, band_indexes, open_raster, windows
from .features import features_for
from .pairs import ArrayPair, Pair, read_block
from .statistics import encode, feature_distance, sample_statistics
from .targets import DEFAULT_TARGET, Gate, check_target

METHODS = ("autoencoder", "raw")
DEFAULT_WINDOW = 1024
#: GDAL's block cache while detecting (bytes): windows are read once, so a small cache is
#: enough, and peak memory does not grow with the rasters (GDAL's default is 5 % of RAM).
CACHE_BYTES = 128 * 2**20
NODATA = np.float32(np.nan)


def check_method(method):
    method = (method or "autoencoder").strip().lower()
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    return method


def detect(before, after, destination, method="autoencoder", model=None, window=DEFAULT_WINDOW, quicklook=None,
           progress=None, max_pixels=MAX_PIXELS, target=DEFAULT_TARGET, names=(None, None), engine=None):
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
        A :class:`~candela.learning.models.Model` or a model id (default
        :data:`~candela.learning.models.DEFAULT_MODEL`). ``raw`` uses only its bands.
    window : int
        Processing window in pixels (even); memory grows with its square, not the raster's size.
    quicklook : str or Path, optional
        Also write a colour PNG preview of the map there (built while the map is written).
    max_pixels : int
        Larger inputs (width x height x bands) are refused before any work.
    target : {'any', 'vegetation_loss', 'urban'}
        Which changes count (:mod:`candela.change.targets`); the gates read their bands
        (B03, B04, B08, and B11, B12 where both images have them) by description.
    names : (str, str), optional
        What the two images were sent as: a Sentinel-2 name there dates an image without an
        ``ACQUISITION_DATE`` tag.
    engine : candela.compute.Engine, optional
        Where the windows of the probability pass run (default: here, one after the other,
        :class:`~candela.compute.SerialEngine`). A remote engine
        (:class:`~candela.compute.DaskEngine`) runs each window as a task that re-opens
        ``before`` and ``after`` by path, so they must be paths its workers can read. The
        statistics pass runs here either way; ``progress`` moves on with each finished window.

    The map's tags say the target (``CHANGE_TARGET``) and, when the images are dated,
    ``PERIOD_START`` and ``PERIOD_END`` (ISO 8601 acquisition times of before and after).
    Returns a summary dict: changed fraction at 0.5, histogram, target, model, grid and timings.
    """
    method = check_method(method)
    target = check_target(target)
    names = names or (None, None)
    model = model if isinstance(model, Model) else load_model(model)
    window = _even(window)
    timings = dict(reading=0.0, encoding=0.0, writing=0.0)
    started = time.perf_counter()
    with rasterio.Env(GDAL_CACHEMAX=CACHE_BYTES, GDAL_NUM_THREADS=gdal_threads()), \
            _open(before, "before", max_pixels) as first, _open(after, "after", max_pixels) as second:
        grid = Grid.of(first)
        first_bands = _bands(first, model.bands, "before")
        second_bands = _bands(second, model.bands, "after")
        tags = _tags(target, first, second, names)
        with aligned(second, grid, name="after", reference="the 'before' raster") as seen:
            pair = Pair(first, first_bands, seen, second_bands, timings)
            gate = None if target == "any" else Gate(target, first, second, seen, model.bands, timings)
            features = features_for(method, model, timings)
            if progress:
                progress(0.02, "Sampling statistics")
            stats = sample_statistics(pair, grid, features)
            if progress:
                progress(0.1, "Detecting change")
            preview = Preview(grid) if quicklook else None
            engine = engine or SerialEngine()
            if engine.remote:
                task = WindowTask(task_path(before), task_path(after), tuple(first_bands), tuple(second_bands), grid, method,
                                  model, target, gate.shift if gate else None, stats, max_pixels)
                compute = functools.partial(probability_window, task)
            else:
                compute = functools.partial(_local_window, pair, features, stats, gate)
            histogram = _write_probability(pair, grid, destination, window, preview, progress, tags, engine,
                                           compute)
    if preview:
        preview.write_png(quicklook)
    timings["total"] = time.perf_counter() - started
    summary = _summary(destination, method, model, grid, stats, histogram, timings)
    summary.update(target=target, target_indices=list(gate.indices) if gate else None)
    return summary


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
    features = features_for(method, model, timings)
    stats = sample_statistics(pair, grid, features)
    size = _even(window or max(width, height))
    result = np.full((height, width), NODATA, dtype=np.float32)
    for block in windows(width, height, size):
        rows, cols = block.toslices()
        result[rows, cols] = _probability_block(pair, block, features, stats)
    return result


def _probability_block(pair, block, features, stats, gate=None):
    """Probability of change over ``block`` (NaN where either image has no data), gated by
    ``gate`` (a :class:`~candela.change.targets.Gate`) when given."""
    margin = 1 if features.cell > 1 else 0
    sample = read_block(pair, block, features, margin)
    a, b, _, valid = encode(sample, features, stats.band_mean, stats.band_std)
    distance = feature_distance(a, b, stats.feature_mean, stats.feature_std, features.weights)
    if features.cell > 1:
        distance = _to_pixels(distance, int(block.height), int(block.width))
    probability = stats.mapping(distance)
    probability[~valid] = NODATA
    if gate is not None:
        probability = gate(probability, block)
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


def _local_window(pair, features, stats, gate, block):
    """A window's probability from the inputs open here (the timings add up in ``pair``'s)."""
    return _probability_block(pair, block, features, stats, gate), None


@dataclass(frozen=True)
class WindowTask:
    """What a window task needs to compute its window's probability on its own, in another
    process: the inputs by path, their bands, the grid, the features' method and model, the
    target and its scene drop (``shift``), and the statistics of the first pass."""

    before: str
    after: str
    before_bands: tuple
    after_bands: tuple
    grid: Grid
    method: str
    model: Model
    target: str
    shift: float
    stats: object
    max_pixels: int


#: Features (the encoder, loaded once) of each model in this process: window tasks of a
#: worker share them.
_FEATURES = {}


def _worker_features(method, model, timings):
    """The features of ``method`` and ``model``, built once per process, with their own ``timings``."""
    # The weights' modification time too: a model retrained under the same id is reloaded.
    key = (method, model.id, str(model.weights), os.stat(model.weights).st_mtime_ns) \
        if method == "autoencoder" else (method,)
    if key not in _FEATURES:
        _FEATURES[key] = features_for(method, model, {})
    features = copy.copy(_FEATURES[key])  # shares the encoder
    features.timings = timings
    return features


def probability_window(task, block):
    """The probability over ``block`` of the pair of ``task`` (a :class:`WindowTask`), read
    from its paths: what :func:`_probability_block` computes over the open inputs, with the
    same functions. Returns ``(probability, timings)``. Runs in a Dask worker."""
    timings = dict(reading=0.0, encoding=0.0)
    with rasterio.Env(GDAL_CACHEMAX=CACHE_BYTES, GDAL_NUM_THREADS=gdal_threads()), ExitStack() as stack:
        with reopening():
            first = stack.enter_context(_open(task.before, "before", task.max_pixels))
            second = stack.enter_context(_open(task.after, "after", task.max_pixels))
            seen = stack.enter_context(aligned(second, task.grid, name="after", reference="the 'before' raster"))
        pair = Pair(first, list(task.before_bands), seen, list(task.after_bands), timings)
        gate = None
        if task.target != "any":
            gate = Gate(task.target, first, second, seen, task.model.bands, timings, shift=task.shift)
        features = _worker_features(task.method, task.model, timings)
        probability = _probability_block(pair, block, features, task.stats, gate)
    return probability, timings


def _write_probability(pair, grid, destination, window, preview, progress, tags, engine, compute):
    """Write the windows' probabilities, computed by ``compute(block)`` on ``engine``, in order."""
    profile = float_profile(grid, count=1, nodata=NODATA, NUM_THREADS=gdal_threads())
    counts = np.zeros(10, dtype=np.int64)
    blocks = list(windows(grid.width, grid.height, window))
    with rasterio.open(destination, "w", **profile) as out:
        out.set_band_description(1, "change_probability")
        out.update_tags(**tags)
        with closing(engine.map(compute, blocks)) as results:  # closing: a remote engine cancels the rest
            for number, (block, (probability, timings)) in enumerate(zip(blocks, results), start=1):
                _write_block(out, pair, block, probability, timings, preview, counts)
                if progress:
                    progress(0.1 + 0.9 * number / len(blocks), f"Window {number} of {len(blocks)}")
    return counts


def _write_block(out, pair, block, probability, timings, preview, counts):
    """Write one window's probability, add it to the preview and the histogram ``counts``;
    a remote task's ``timings`` (reading, encoding) add up in ``pair``'s."""
    for key, seconds in (timings or {}).items():
        pair.timings[key] += seconds
    started = time.perf_counter()
    out.write(probability, 1, window=block)
    pair.timings["writing"] += time.perf_counter() - started
    if preview:
        preview.add(probability, block)
    finite = probability[np.isfinite(probability)]
    counts += np.bincount(np.minimum((finite * 10).astype(np.int64), 9), minlength=10)


def _tags(target, first, second, names):
    """The map's tags: its target, and the change period where the images are dated (by their
    ``ACQUISITION_DATE`` tag or Sentinel name; a TIFF's own date-time is when it was written)."""
    tags = {"CHANGE_TARGET": target}
    for tag, dataset, name in (("PERIOD_START", first, names[0]), ("PERIOD_END", second, names[1])):
        when = acquisition_time(dataset, name, tiff_datetime=False)
        if when is not None:
            tags[tag] = format_time(when)
    return tags


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
