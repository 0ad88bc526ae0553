"""Change detection in Sentinel-1 VV+VH time series, with a known false-alarm rate: the maps.

The tests themselves (omnibus, sequential, event) are in :mod:`candela.change.omnibus`, the
ENL estimate in :mod:`candela.change.enl`, and the images are opened, dated and read on one
grid by :mod:`candela.change.sarimages`. Speckle filtering is never applied: it would change
the ENL the tests assume.

The windows are tested on an engine (:mod:`candela.compute`): here, one after the other (the
default), or as tasks on a Dask cluster, each of which opens the series again by path
(:class:`WindowTask`); the same function tests every window either way, and the maps are
written here, window after window.
"""

import functools
from contextlib import ExitStack, closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import rasterio

from ..compute import SerialEngine, reopening
from ..errors import InputError
from ..rasters.dating import format_time, parse_time
from ..rasters.env import gdal_threads
from ..rasters.geotiff import float_profile
from ..rasters.grid import Grid
from ..rasters.quicklook import Preview
from ..rasters.reading import MAX_PIXELS, windows
from .enl import estimate_enl
from .omnibus import DEFAULT_ALPHA, mean_ratio_test, omnibus, omnibus_constants
from .sarimages import BANDS, check_units, enl_samples, open_images, read_intensity, reopen_images, sources

#: ENL of Sentinel-1 IW GRDH products (ESA, "Sentinel-1 Product Definition", IW GRDH: 4.4).
DEFAULT_ENL = 4.4
METHODS = ("omnibus", "logratio")
UNITS = ("linear", "dB")
MAX_IMAGES = 50
WINDOW = 1024
BLOCKSIZE = 512
NODATA_INDEX = 255
#: GDAL's block cache while detecting: bounded, so peak memory does not grow with the scene.
CACHE_BYTES = 256 * 2**20


def check_alpha(alpha):
    """The significance level as a float in (0, 0.5]."""
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        value = float("nan")
    if not (0 < value <= 0.5):
        raise InputError(f"the significance level must be a number in (0, 0.5], not {str(alpha)[:20]}", input="alpha")
    return value


def check_enl(enl):
    """A number of looks in [1, 1000], or ``"estimate"``."""
    if isinstance(enl, str) and enl.strip().lower() == "estimate":
        return "estimate"
    try:
        value = float(enl)
    except (TypeError, ValueError):
        value = float("nan")
    if not (1 <= value <= 1000):
        raise InputError(f"the ENL must be a number from 1 to 1000, or 'estimate', not {str(enl)[:20]}", input="enl")
    return value


def check_choice(value, choices, parameter):
    """The one of ``choices`` that ``value`` names (case ignored)."""
    for choice in choices:
        if str(value).strip().lower() == choice.lower():
            return choice
    raise InputError(f"must be one of {', '.join(choices)}, not {str(value)[:20]}", input=parameter)


def parse_event(event_date):
    """An aware datetime from a date (midnight UTC) or an ISO 8601 date-time; None stays None."""
    if event_date is None or isinstance(event_date, datetime):
        return event_date
    try:
        return parse_time(str(event_date))
    except ValueError:
        raise InputError(f"not a date (yyyy-mm-dd) or ISO 8601 date-time: {str(event_date)[:30]}",
                         input="event_date") from None


def detect(images, folder, *, alpha=DEFAULT_ALPHA, enl=DEFAULT_ENL, event_date=None, units="linear",
           method="omnibus", window=WINDOW, progress=None, max_pixels=MAX_PIXELS, engine=None):
    """Detect changes in a Sentinel-1 time series; write the maps into ``folder``.

    Parameters
    ----------
    images : list of (name, path)
        Two or more GeoTIFFs with VV and VH bands (by description, else bands 1 and 2), dated
        by their ACQUISITION_DATE tag or Sentinel-1 file name, and/or zipped Sentinel-1 GRD
        products (calibrated to sigma0 on the common grid). Any order: they are sorted by time.
        ``name`` is how errors and the summary name an image.
    folder : Path
        Where change_map.tif, change_mask.tif, change_date.tif and quicklook.png are written.
    alpha : float
        Significance level: the expected fraction of unchanged pixels flagged.
    enl : float or "estimate"
        Equivalent number of looks (4.4 for IW GRDH), or estimated from homogeneous areas.
    event_date : str or datetime, optional
        Test the mean of the images before it against the mean of those at or after it.
    units : "linear" or "dB"
        What the GeoTIFFs hold; decibels are converted to linear before any statistics.
    method : "omnibus" or "logratio"
        ``logratio`` (without event_date): the exact F test of the last image against the first.
    window : int
        Side of the processing windows (pixels); the result does not depend on it.
    progress : callable, optional
        Called as ``progress(fraction, message)``.
    max_pixels : int
        Larger inputs (width x height x bands, for a product its measurements) are refused
        before any work.
    engine : candela.compute.Engine, optional
        Where the windows are tested (default: here, one after the other,
        :class:`~candela.compute.SerialEngine`). A remote engine
        (:class:`~candela.compute.DaskEngine`) tests each window as a task that opens the
        images again by path (a product's: its calibrated GeoTIFF in ``folder``), so its
        workers must read them there. Opening, calibrating, the units check and the ENL
        estimate run here either way; the maps are written here, and ``progress`` moves on
        with each finished window.

    Returns
    -------
    dict
        ``change_map``, ``change_mask``, ``change_date``, ``quicklook`` (paths) and ``summary``
        (JSON-ready: test, alpha, ENL used, images, changed fraction, first-change counts).
    """
    report = progress or (lambda fraction, message: None)
    alpha = check_alpha(alpha)
    enl = check_enl(enl)
    units = check_choice(units, UNITS, "units")
    method = check_choice(method, METHODS, "method")
    event = parse_event(event_date)
    if len(images) < 2:
        raise InputError(f"at least two images are needed, {len(images)} given")
    if len(images) > MAX_IMAGES:
        raise InputError(f"at most {MAX_IMAGES} images, {len(images)} given")
    folder = Path(folder)
    with rasterio.Env(GDAL_CACHEMAX=CACHE_BYTES, GDAL_NUM_THREADS=gdal_threads()), ExitStack() as stack:
        # Calibrating products, if any, takes the first 30 % of the progress (open_images reports
        # progress only while calibrating).
        series, grid = open_images(images, stack, folder, lambda done, message: report(0.3 * done, message),
                                   max_pixels)
        calibrating = 0.3 if any(image.product is not None for image in series) else 0.0
        check_units(series, grid, units)
        test, before, after = _plan(series, event, method)
        enl_blocks = None
        if enl == "estimate":
            report(calibrating, "estimating the ENL")
            enl, enl_blocks = estimate_enl(enl_samples(series, grid, units))
            if enl < 1:
                raise InputError(f"the estimated ENL is {enl:.2f} (< 1): no homogeneous area was found; "
                                 "give the ENL as a number", input="enl")
        paths = {name: folder / f"{name}.tif" for name in ("change_map", "change_mask", "change_date")}
        preview = Preview(grid)
        engine = engine or SerialEngine()
        if engine.remote:
            task = WindowTask(sources(series), grid, test, tuple(before), tuple(after), enl, alpha, units, max_pixels)
            compute = functools.partial(tested_window, task)
        else:
            compute = functools.partial(_test_window, series, test=test, before=before, after=after, enl=enl,
                                        alpha=alpha, units=units)
        counts = _write_maps(series, grid, paths, test, before, after, enl, alpha, window, preview,
                             lambda done: report(calibrating + (0.95 - calibrating) * done, "testing for change"),
                             engine, compute)
    report(0.95, "writing the quicklook")
    quicklook = preview.write_png(folder / "quicklook.png")
    summary = _summary(series, grid, test, before, after, event, enl, enl_blocks, alpha, units, counts)
    report(1.0, "done")
    return {**{name: str(path) for name, path in paths.items()}, "quicklook": str(quicklook), "summary": summary}


def _plan(series, event, method):
    """(test, before, after): which test, and which images (0-based) it compares."""
    if event is not None:
        before = [i for i, image in enumerate(series) if image.time < event]
        after = [i for i, image in enumerate(series) if image.time >= event]
        if not before or not after:
            raise InputError(f"{format_time(event)} must fall after the first image and not after the last one",
                             input="event_date")
        return "event", before, after
    if method == "logratio":
        return "logratio", [0], [len(series) - 1]
    return "omnibus", list(range(len(series))), []


def _write_maps(series, grid, paths, test, before, after, enl, alpha, window, preview, progress, engine, compute):
    """Write the three maps of the windows tested by ``compute(block)`` on ``engine``, in order;
    return pixel counts for the summary."""
    threads = gdal_threads()
    count = 1 if test == "omnibus" else 1 + len(BANDS)
    map_profile = float_profile(grid, count=count, blocksize=BLOCKSIZE)
    index_profile = grid.profile(driver="GTiff", dtype="uint8", count=1, nodata=NODATA_INDEX, tiled=True,
                                 blockxsize=BLOCKSIZE, blockysize=BLOCKSIZE, compress="deflate")
    counts = {"valid": 0, "changed": 0, "first_change": np.zeros(len(series) + 1, dtype=np.int64)}
    tags = _tags(series, test, before, after, enl, alpha)
    blocks = list(windows(grid.width, grid.height, window))
    with rasterio.open(paths["change_map"], "w", NUM_THREADS=threads, **map_profile) as change_map, \
            rasterio.open(paths["change_mask"], "w", NUM_THREADS=threads, **index_profile) as change_mask, \
            rasterio.open(paths["change_date"], "w", NUM_THREADS=threads, **index_profile) as change_date:
        change_map.descriptions = ("change_probability",) + (
            () if count == 1 else tuple(f"{band}_log_ratio_dB" for band in BANDS))
        change_mask.descriptions = ("change",)
        change_date.descriptions = ("first_change_index",)
        for out in (change_map, change_mask, change_date):
            out.update_tags(**tags)
        # closing: a remote engine cancels the windows not yet collected when writing fails.
        with closing(engine.map(compute, blocks)) as results:
            for done, (block, tested) in enumerate(zip(blocks, results), start=1):
                _write_window((change_map, change_mask, change_date), block, tested, alpha, preview, counts)
                progress(done / len(blocks))
    return counts


def _write_window(maps, block, tested, alpha, preview, counts):
    """Write one window's test results (from :func:`_test_window`) into the three ``maps``, add
    the probability to the preview and the pixels to ``counts``."""
    change_map, change_mask, change_date = maps
    p, first, log_ratio, valid = tested
    probability = np.where(valid, 1 - p, np.nan).astype(np.float32)
    changed = valid & (p < alpha)
    change_map.write(probability, 1, window=block)
    preview.add(probability, block)
    if log_ratio is not None:
        change_map.write(np.where(valid, log_ratio, np.nan).astype(np.float32), [2, 3], window=block)
    change_mask.write(np.where(valid, changed, NODATA_INDEX).astype(np.uint8), 1, window=block)
    change_date.write(np.where(valid, first, NODATA_INDEX).astype(np.uint8), 1, window=block)
    counts["valid"] += int(valid.sum())
    counts["changed"] += int(changed.sum())
    dates = counts["first_change"].size
    counts["first_change"] += np.bincount(first[changed], minlength=dates)[:dates]


def _test_window(series, window, test, before, after, enl, alpha, units):
    """(p, first change index, log ratio or None, valid) for one window."""
    shape = (int(window.height), int(window.width))
    valid = np.ones(shape, dtype=bool)

    def read(indices):
        # Invalid pixels read as 1 so the statistics stay finite; they are masked at the end.
        nonlocal valid
        for i in indices:
            values, ok = read_intensity(series[i], window, units)
            valid &= ok
            yield np.where(ok, values, np.float32(1))

    if test == "omnibus":
        result = omnibus(read(before), enl, alpha)
        return result.p, result.first_change, None, valid
    p, log_ratio = mean_ratio_test(read(before), read(after), enl)
    first = np.where(p < alpha, after[0] + 1, 0).astype(np.uint8)
    return p, first, log_ratio, valid


@dataclass(frozen=True)
class WindowTask:
    """What a window task needs to test its window on its own, in another process: the images
    by path (:func:`~candela.change.sarimages.sources`, in time order), the grid, the test and
    the images it compares, the ENL (given or estimated here), alpha and the units."""

    images: tuple
    grid: Grid
    test: str
    before: tuple
    after: tuple
    enl: float
    alpha: float
    units: str
    max_pixels: int


def tested_window(task, block):
    """The test over ``block`` of the series of ``task`` (a :class:`WindowTask`), opened again
    from its paths: what :func:`_test_window` computes over the series open here. Runs in a
    Dask worker."""
    with rasterio.Env(GDAL_CACHEMAX=CACHE_BYTES, GDAL_NUM_THREADS=gdal_threads()), ExitStack() as stack:
        with reopening():
            series = reopen_images(task.images, task.grid, stack, task.max_pixels)
        return _test_window(series, block, task.test, task.before, task.after, task.enl, task.alpha, task.units)


def _tags(series, test, before, after, enl, alpha):
    """The maps' tags. PERIOD_START and PERIOD_END bound the change period, as on ChangeDetect's
    maps: the first and last images, or for an event the last image before it and the first after."""
    start, end = (series[before[-1]], series[after[0]]) if test == "event" else (series[0], series[-1])
    return {
        "CHANGE_TEST": test,
        "ALPHA": f"{alpha:g}",
        "ENL": f"{enl:.4g}",
        "DATES": ",".join(format_time(image.time) for image in series),
        "FIRST_CHANGE_INDEX": "1-based index in DATES of the first image after the change; 0 = none",
        "PERIOD_START": format_time(start.time),
        "PERIOD_END": format_time(end.time),
    }


def _summary(series, grid, test, before, after, event, enl, enl_blocks, alpha, units, counts):
    """The JSON-ready summary; ``enl_blocks`` is the number of blocks the ENL was estimated
    from (None when it was given)."""
    k = len(series)
    if test == "omnibus":
        dof, rho, omega2 = omnibus_constants(k, enl, len(BANDS))
        statistic = {"name": "omnibus likelihood ratio -2 rho ln Q (Conradsen et al. 2016), diagonal VV+VH",
                     "degrees_of_freedom": dof, "rho": rho, "omega2": omega2,
                     "first_change": "sequential tests R_j, at alpha, where the omnibus test is significant"}
    else:
        statistic = {"name": "mean before / mean after per band, exact F; VV and VH combined by Fisher's method",
                     "degrees_of_freedom": [2 * enl * len(before), 2 * enl * len(after)]}
    first_change = [
        {"index": j, "time": format_time(series[j - 1].time), "pixels": int(counts["first_change"][j])}
        for j in range(2, k + 1) if counts["first_change"][j]
    ]
    valid = counts["valid"]
    return {
        "test": test,
        "statistic": statistic,
        "alpha": alpha,
        "enl": round(float(enl), 4),
        "enl_source": "estimated" if enl_blocks else "given",
        **({"enl_blocks": enl_blocks} if enl_blocks else {}),
        "units": units,
        "images": [{"index": i + 1, "name": image.name, "time": format_time(image.time)}
                   for i, image in enumerate(series)],
        **({"event_date": format_time(event)} if test == "event" else {}),
        **({"before": [i + 1 for i in before], "after": [i + 1 for i in after]} if test != "omnibus" else {}),
        "valid_pixels": valid,
        "changed_pixels": counts["changed"],
        "changed_fraction": counts["changed"] / valid if valid else None,
        "expected_false_alarm_fraction": alpha,
        "first_change": first_change,
        "changed_without_date": int(counts["first_change"][0]),
        "grid": {"crs": grid.crs.to_string(), "transform": list(grid.transform)[:6],
                 "width": grid.width, "height": grid.height},
    }
