"""FusionClassify's core: train on labelled samples (or take a saved classifier), estimate the
accuracy of every fusion on the same blocked folds, classify the whole grid window by window,
and propose the next samples to label.

Usable without a server: ``classify(optical=[(name, path)], sar=[...], training=features, folder=...)``.

The prediction windows run on an engine (:mod:`candela.compute`): here, one after the other
(the default), or as tasks on a Dask cluster, each of which re-opens the images by path
(:class:`WindowTask`), the fitted model sent to each worker once; the same functions classify every window
either way, and the maps and the suggestions' pool take the windows here, in order.
"""

import copy
import functools
from contextlib import ExitStack, closing
from dataclasses import dataclass
from pathlib import Path

import geopandas
import numpy as np
from rasterio.windows import Window

from ..compute import SerialEngine, reopening, task_path
from ..errors import InputError, blaming
from ..rasters.dating import format_time
from ..rasters.reading import MAX_PIXELS, windows
from .features import FeatureStack
from .inputs import open_optical, open_sar, place_on_grid, settle_units
from .maps import MapWriter
from .model import FusionModel
from .options import DEFAULT_SUGGESTIONS, FUSIONS, MAX_IMAGES, MAX_SUGGESTIONS
from .samples import class_labels, sample_pixels
from .suggestions import CandidatePool, choose, margins, uniform_surroundings
from .validation import cross_validate

WINDOW = 512
#: Training pixels are read in tiles of this side (only the tiles holding samples).
TRAINING_TILE = 256


def classify(optical, sar=(), training=None, folder=".", *, class_field="class", fusion="features",
             suggestions=DEFAULT_SUGGESTIONS, seed=0, sar_units="auto", model=None, progress=None,
             max_pixels=MAX_PIXELS, window=WINDOW, engine=None):
    """Classify the grid of the first optical image.

    ``optical``/``sar``: ``[(name, path), ...]``; ``training``: a GeoDataFrame of labelled points
    or polygons (class in ``class_field``); ``model``: ``(FusionModel, metadata)`` of a saved
    classifier, used instead of training. Returns the paths of the maps, the suggestions (a
    GeoDataFrame of points), the report, the fitted model and the labels used (longitude/latitude,
    class in ``class``).

    ``engine`` (a :class:`~candela.compute.Engine`) runs the prediction windows (default: here,
    one after the other, :class:`~candela.compute.SerialEngine`). A remote engine
    (:class:`~candela.compute.DaskEngine`) runs each window as a task that re-opens the images
    by path, so they must be paths its workers can read. Training, cross-validation and the
    suggestions run here either way; ``progress`` moves on with each finished window.
    """
    report = progress or (lambda fraction, message: None)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if fusion not in FUSIONS:
        raise InputError(f"{fusion!r} is not one of {', '.join(FUSIONS)}", "fusion")
    if not optical:
        raise InputError("at least one optical image is needed: its grid is the map's", "optical")
    if (model is None) == (training is None):
        raise InputError("give training samples, or a saved model to classify with, not both"
                         if model is not None else "labelled samples are needed (or a saved model)", "training")
    with ExitStack() as stack:
        images, grid = _images(optical, sar, stack, max_pixels, sar_units)
        features = _features(images)
        optical_images = [i for i in features.images if i.sensor == "optical"]
        sar_images = [i for i in features.images if i.sensor == "sar"]
        if fusion in ("decision", "sar") and not sar_images:
            raise InputError(f"fusion {fusion} needs Sentinel-1 images (input sar)", "fusion")
        result = {"report": {"fusion": fusion, "inputs": _described(optical_images, sar_images),
                             "grid": _grid(grid), "features": features.names}}
        if model is None:
            fitted, samples = _train(features, grid, training, class_field, fusion, seed, result, report)
        else:
            fitted, metadata = model
            _check_model(fitted, features)
            samples = None
            result["report"].update(fusion=fitted.fusion, classifier=metadata)
        report(0.35, "classifying")
        pool = CandidatePool(grid, exclude=() if samples is None else samples.rows * grid.width + samples.cols,
                             seed=seed)
        engine = engine or SerialEngine()
        if engine.remote:
            task = WindowTask(_paths(optical), _paths(sar), tuple(i.units for i in images if i.sensor == "sar"),
                              max_pixels)
            compute = functools.partial(classify_window, task)
        else:
            compute = functools.partial(_window, features)
        result.update(_predict(fitted, grid, folder, pool, window, result["report"],
                               lambda done: report(0.35 + 0.6 * done, "classifying"), engine, compute))
    report(0.95, "choosing the samples to label next")
    result["suggestions"] = _suggestions(pool, grid, fitted.classes, min(suggestions, MAX_SUGGESTIONS), seed,
                                         class_field)
    result["report"]["suggestions"] = {"count": len(result["suggestions"]), "pool": len(pool.gathered()[0]),
                                       "method": "CLUE: uncertainty-weighted k-means on features and position"}
    result["model"] = fitted
    report(1.0, "done")
    return result


def _images(optical, sar, stack, max_pixels, sar_units):
    """``(images, grid)``: the images opened in ``stack`` (in the order given), on the first
    optical image's grid, the SAR ones' units settled; ``sar_units`` is the input's, or one
    settled value per SAR image (a window task's)."""
    if len(optical) > MAX_IMAGES or len(sar) > MAX_IMAGES:
        raise InputError(f"at most {MAX_IMAGES} images per sensor", "optical" if len(optical) > MAX_IMAGES else "sar")
    images = [open_optical(name, path, stack, max_pixels) for name, path in optical]
    images += [open_sar(name, path, stack, max_pixels) for name, path in sar]
    grid = place_on_grid(images, stack)
    radar = [i for i in images if i.sensor == "sar"]
    settled = [sar_units] * len(radar) if sar_units is None or isinstance(sar_units, str) else sar_units
    for image, units in zip(radar, settled):
        settle_units(image, grid, units)
    return images, grid


def _features(images):
    return FeatureStack([i for i in images if i.sensor == "optical"], [i for i in images if i.sensor == "sar"])


def _train(features, grid, training, class_field, fusion, seed, result, report):
    """Fit the model on the pixels under the samples; cross-validate every fusion first."""
    report(0.0, "reading the training samples")
    labelled, unlabelled = _labelled(training, class_field)
    with blaming("training"):
        labels = class_labels(labelled, class_field)
        samples = sample_pixels(labelled, labels, grid)
    X, valid = training_features(features, samples, grid)
    if not valid.any():
        raise InputError("no valid pixel lies under the samples (no data or clouds in some image)", "training")
    classes = sorted(set(samples.labels[valid]))
    if len(classes) < 2:
        raise InputError(f"only class {classes[0]!r} has valid pixels under its samples; two or more are needed",
                         "training")
    kept = _subset(samples, valid)
    y = np.searchsorted(classes, kept.labels)
    X = X[valid]
    report(0.1, "cross-validating")
    validation = cross_validate(X, y, kept, features.names, features.sensors, classes, seed)
    report(0.3, "training")
    fitted = FusionModel(fusion, features.names, features.sensors, classes, seed).fit(X, y)
    result["labels"] = labelled[[class_field, "geometry"]].rename(columns={class_field: "class"}).to_crs(4326)
    result["labels"]["class"] = labels
    result["report"].update(
        classes=classes,
        training={"samples": int(len(labelled)), "left_out_without_class": unlabelled,
                  "pixels": int(len(y)), "pixels_left_out": int((~valid).sum()),
                  "pixels_per_class": {c: int((y == i).sum()) for i, c in enumerate(classes)}},
        validation=validation, feature_importances=fitted.importances())
    return fitted, samples


def _labelled(training, class_field):
    """The samples with a class, and how many had none (suggestions sent back half filled in)."""
    if class_field not in training.columns:
        return training, 0
    text = training[class_field].astype("string").str.strip().fillna("")
    given = (training[class_field].notna() & (text != "")).to_numpy(dtype=bool)
    if not given.any():
        return training, 0  # class_labels says what is wrong
    return training[given], int((~given).sum())


def _subset(samples, keep):
    return type(samples)(samples.rows[keep], samples.cols[keep], samples.labels[keep], samples.groups[keep])


def training_features(features, samples, grid, tile=TRAINING_TILE):
    """``(X, valid)`` at the sample pixels, reading only the tiles that hold samples."""
    X = np.zeros((len(samples), len(features.names)), dtype="float32")
    valid = np.zeros(len(samples), dtype=bool)
    tiles = (samples.rows // tile).astype("int64") * (grid.width // tile + 1) + samples.cols // tile
    for key in np.unique(tiles):
        picked = np.flatnonzero(tiles == key)
        row, col = int(samples.rows[picked[0]] // tile * tile), int(samples.cols[picked[0]] // tile * tile)
        window = Window(col, row, min(tile, grid.width - col), min(tile, grid.height - row))
        Xw, vw = features.read(window)
        local = (samples.rows[picked] - row) * int(window.width) + (samples.cols[picked] - col)
        X[picked], valid[picked] = Xw[local], vw[local]
    return X, valid


def _check_model(model, features):
    if model.names != features.names:
        missing = [n for n in model.names if n not in features.names]
        extra = [n for n in features.names if n not in model.names]
        raise InputError("the images do not give the features the model was trained on"
                         + (f" (missing {', '.join(missing[:8])})" if missing else "")
                         + (f" (not in the model: {', '.join(extra[:8])})" if extra else "")
                         + "; give images with the same bands, sensors and number of dates", "model")


def _window(features, model, block):
    """``(X, valid, probabilities, eligible)`` of ``block``: the features of the pixels the
    suggestions may pick (``eligible``; all a window task sends back of its features), which
    pixels are valid, and the valid ones' class probabilities."""
    X, valid = features.read(block)
    probabilities = model.predict_proba(X[valid]) if valid.any() else np.empty((0, len(model.classes)))
    eligible = uniform_surroundings(probabilities, valid, block)
    return X[eligible], valid, probabilities, eligible


@dataclass(frozen=True)
class WindowTask:
    """What a window task needs to classify its window on its own, in another process: the
    images by path (``(name, path)`` pairs), the SAR images' settled units (in their order)
    and the largest input allowed. The fitted model comes apart, sent to each worker once."""

    optical: tuple
    sar: tuple
    sar_units: tuple
    max_pixels: int


def classify_window(task, model, block):
    """:func:`_window` of ``block`` with the images of ``task`` (a :class:`WindowTask`)
    re-opened by path, the same functions as over the images open here. Runs in a Dask worker."""
    with ExitStack() as stack:
        with reopening():
            images, _ = _images(task.optical, task.sar, stack, task.max_pixels, task.sar_units)
        return _window(_features(images), _one_thread(model), block)


def _one_thread(model):
    """``model`` with forests predicting on one thread (a copy: the fitted trees are shared).
    A worker's parallelism is its tasks; a forest on all of a worker's cores in each of its
    tasks would oversubscribe them."""
    single = copy.copy(model)
    single.forests = {part: _jobs(forest, 1) for part, forest in model.forests.items()}
    return single


def _jobs(forest, count):
    forest = copy.copy(forest)
    forest.n_jobs = count
    return forest


def _paths(images):
    """``(name, path)`` pairs as a task in another process opens them."""
    return tuple((name, task_path(path)) for name, path in images)


def _predict(model, grid, folder, pool, size, report_doc, progress, engine, compute):
    """Write the maps and fill ``pool`` from the windows, classified by ``compute(model,
    block)`` on ``engine``, in order; ``progress(done)`` after each."""
    writer = MapWriter(grid, folder, model.classes, {"FUSION": model.fusion})
    try:
        blocks = list(windows(grid.width, grid.height, size))
        # closing: a remote engine cancels the rest; the model, shared, goes to a cluster once.
        with closing(engine.map(compute, blocks, shared=model)) as results:
            for done, (block, (X, valid, probabilities, eligible)) in enumerate(zip(blocks, results), 1):
                writer.write(block, probabilities, valid)
                pool.add(block, X, valid, probabilities, eligible=eligible)
                progress(done / len(blocks))
        paths = writer.finish()
    finally:
        writer.close()
    pixel_area = abs(grid.transform.a * grid.transform.e)
    report_doc["areas"] = {"pixels": writer.areas(), "pixel_area_m2": pixel_area}
    return paths


def _suggestions(pool, grid, classes, count, seed, class_field):
    rows, cols, X, probabilities = pool.gathered()
    chosen = choose(rows, cols, X, probabilities, count, seed) if count > 0 else np.empty(0, int)
    xs, ys = grid.transform @ (cols[chosen] + 0.5, rows[chosen] + 0.5)
    p = probabilities[chosen] if probabilities is not None else np.empty((0, len(classes)))
    return geopandas.GeoDataFrame({
        "suggestion": np.arange(1, len(chosen) + 1),
        "predicted": [classes[i] for i in p.argmax(axis=1)],
        "confidence": np.round(p.max(axis=1), 4) if len(p) else [],
        "margin": np.round(margins(p), 4) if len(p) else [],
        class_field: [""] * len(chosen),
    }, geometry=geopandas.points_from_xy(xs, ys), crs=grid.crs)


def _described(optical, sar):
    def item(image):
        return {"name": image.name, "time": format_time(image.time) if image.time else None,
                **({"bands": list(image.bands)} if image.sensor == "optical" else {"units": image.units})}
    return {"optical": [item(i) for i in optical], "sar": [item(i) for i in sar]}


def _grid(grid):
    return {"crs": grid.crs.to_string(), "width": grid.width, "height": grid.height,
            "pixel_size": [abs(grid.transform.a), abs(grid.transform.e)]}
