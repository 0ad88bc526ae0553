"""Change detection in Sentinel-1 VV+VH time series, with a known false-alarm rate.

Model. In an image with equivalent number of looks ``n`` (ENL) a pixel's linear sigma nought
in one polarisation is ``Gamma(shape n, mean sigma)`` (multilook speckle), VV and VH are
independent (GRD products hold only the diagonal of the dual-pol covariance matrix), and
images of different dates are independent. "No change" at a pixel means equal means at
every date. Every test below gives a p-value whose distribution is uniform on no-change
pixels, so ``p < alpha`` flags ``alpha`` of them, whatever the scene.

Omnibus test (Conradsen, Nielsen & Skriver 2016, "Determining the points of change in time
series of polarimetric SAR data", IEEE TGRS 54(5):3007-3024; the formulas as implemented in
M. Canty's ``omnibus.py`` and ``sar_seq.py``, github.com/mortcanty/SARDocker). For k complex
Wishart p x p matrices ``X_i = n C_i``::

    ln Q = n [p k ln k + sum_i ln|X_i| - k ln|X_1 + ... + X_k|]
    f    = (k - 1) p^2
    rho  = 1 - (2p^2 - 1) / (6 (k - 1) p) * (k/n - 1/(n k))
    w2   = -p^2 (k - 1) / 4 * (1 - 1/rho)^2 + p^2 (p^2 - 1) / (24 rho^2) * (k/n^2 - 1/(n k)^2)
    P(-2 rho ln Q <= z) ~ P(chi2_f <= z) + w2 [P(chi2_{f+4} <= z) - P(chi2_f <= z)]

Diagonal dual-pol data: ``|X| = X_VV X_VH``, so ln Q is the sum of two independent p = 1
statistics with the same rho. Each has the density ``(1 - w) g_f1 + w g_f1+4`` (g: chi-square
densities), whose convolution is ``g_2f1 + 2w (g_2f1+4 - g_2f1) + O(w^2)`` with ``w = O(n^-2)``:
the formula above holds with f and w2 summed over the bands, i.e. ``f = 2 (k - 1)``,
``rho = 1 - (k + 1) / (6 n k)``, ``w2 = -(k - 1) / 2 (1 - 1/rho)^2`` (the p^2 (p^2 - 1) term
is 0 for p = 1). Using p = 2 instead (``f = 4 (k - 1)``) would test the VV-VH cross term the
data do not have, and miscalibrate.

Sequential tests (same paper): ``Q = R_2 R_3 ... R_k``, independent under no change, where
``R_j`` tests image j against images 1..j-1 (all equal so far)::

    ln R_j = n [p (j ln j - (j-1) ln(j-1)) + (j-1) ln|S_j-1| + ln|X_j| - j ln|S_j|],  S_j = X_1 + ... + X_j
    f = p^2, rho_j = 1 - (2p^2 - 1)/(6 p n) (1 + 1/(j (j-1))),
    w2_j = -p^2/4 (1 - 1/rho_j)^2 + p^2 (p^2 - 1)/(24 n^2 rho_j^2) (1 + (2j - 1)/(j (j-1))^2)

(diagonal dual-pol: ``f = 2``, ``rho_j = 1 - (1 + 1/(j (j-1)))/(6n)``, ``w2_j = -(1 - 1/rho_j)^2/2``).
The first change of a pixel is before the first image j whose ``p(R_j) < alpha``, among pixels
whose omnibus ``p < alpha`` (as Canty's sequential omnibus algorithm in the Earth Engine
tutorial "Detecting Changes in Sentinel-1 Imagery, Part 3"). Pixels with a significant
omnibus test but no single significant R_j keep index 0 (changed, no date).

Event test (a known date): per band, mean before / mean after is exactly
``F(2 n m1, 2 n m2)`` distributed without change (a sum of m Gamma(n) intensities is
Gamma(m n)); two-sided ``p_b = 2 min(F, 1 - F)``; the two bands are combined by Fisher's method,
``-2 (ln p_VV + ln p_VH) ~ chi2_4``, which is exact because the bands are independent. The
``logratio`` method is the same test on the last image against the first.

Speckle filtering is never applied: it would change the ENL the tests assume. Images are
read on the first image's grid; others are resampled by nearest neighbour, which keeps each
pixel a single speckle sample (bilinear resampling would average neighbours and raise the ENL).
"""

import math
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.windows import Window
from scipy import ndimage, special

from .errors import InputError
from .rasters import dating
from .rasters.env import gdal_threads
from .rasters.geotiff import float_profile
from .rasters.grid import Grid, aligned
from .rasters.quicklook import Preview
from .rasters.reading import MAX_PIXELS, band_indexes, open_raster, read_masked, windows
from .safe.archive import is_zip

BANDS = ("VV", "VH")
#: ENL of Sentinel-1 IW GRDH products (ESA, "Sentinel-1 Product Definition", IW GRDH: 4.4).
DEFAULT_ENL = 4.4
DEFAULT_ALPHA = 0.01
METHODS = ("omnibus", "logratio")
UNITS = ("linear", "dB")
MAX_IMAGES = 50
WINDOW = 1024
BLOCKSIZE = 512
NODATA_INDEX = 255
#: GDAL's block cache while detecting: bounded, so peak memory does not grow with the scene.
CACHE_BYTES = 256 * 2**20
#: ENL estimation: local statistics over ENL_BLOCK x ENL_BLOCK pixels, taken in up to
#: ENL_WINDOWS x ENL_WINDOWS windows of ENL_WINDOW pixels spread over each image and band.
ENL_BLOCK = 16
ENL_WINDOW = 128
ENL_WINDOWS = 8
MIN_ENL_BLOCKS = 50
#: Kernel width (natural log of the ENL) of the density of local ENLs: 5 %.
ENL_BANDWIDTH = 0.05
#: A density peak counts as a cluster of blocks when it reaches this fraction of the highest one.
PEAK_FRACTION = 0.25
#: Linear intensities are positive, decibels mostly negative: the share of negative values in a
#: sample tells which a raster holds.
MAX_NEGATIVE_LINEAR = 0.05
MIN_NEGATIVE_DB = 0.01
UNITS_WINDOW = 32
UNITS_WINDOWS = 8
_TINY = 1e-300


class ParameterError(InputError):
    """An InputError about the parameter named ``parameter`` rather than about the images."""

    def __init__(self, parameter, message):
        super().__init__(message, input=parameter)

    @property
    def parameter(self):
        """The parameter at fault (the same as ``input``)."""
        return self.input

    def __reduce__(self):
        return type(self), (self.input, str(self))


# ---------------------------------------------------------------------------------------------
# Distributions


def chi2_sf(z, dof):
    """P(chi2_dof > z); for an even ``dof`` exactly e^(-z/2) sum_{i < dof/2} (z/2)^i / i!.

    The sum is ten times faster than the incomplete gamma function for the few terms the
    dual-polarisation tests need (their degrees of freedom are even).
    """
    if dof % 2:
        return special.chdtrc(dof, np.maximum(z, 0.0))
    return _poisson_terms(z, dof)[0]


def corrected_sf(z, dof, omega2):
    """P(-2 rho ln Q > z) ~ P(chi2_f > z) + w2 [P(chi2_f+4 > z) - P(chi2_f > z)], in [0, 1]."""
    if dof % 2:
        base = chi2_sf(z, dof)
        following = chi2_sf(z, dof + 4) - base
    else:
        base, term, half = _poisson_terms(z, dof)
        # P(chi2_f+4 > z) - P(chi2_f > z) is the sum's next two terms.
        following = term * half / (dof // 2)
        following *= 1 + half / (dof // 2 + 1)
    return np.clip(base + omega2 * following, 0.0, 1.0)


def _poisson_terms(z, dof):
    """(P(chi2_dof > z), the sum's last term, z/2) for an even ``dof``."""
    if dof <= 0:
        raise ValueError("the degrees of freedom must be positive")
    half = np.maximum(np.asarray(z, dtype=np.float64), 0.0) * 0.5
    term = np.exp(-half)
    total = term.copy()
    for i in range(1, dof // 2):
        term = term * half / i
        total += term
    return np.minimum(total, 1.0), term, half


def omnibus_constants(k, enl, bands=2):
    """(f, rho, w2) of the omnibus test of k images of ``bands`` independent polarisations."""
    rho = 1 - (k / enl - 1 / (enl * k)) / (6 * (k - 1))
    omega2 = -bands * (k - 1) / 4 * (1 - 1 / rho) ** 2
    return bands * (k - 1), rho, omega2


def sequential_constants(j, enl, bands=2):
    """(f, rho_j, w2_j) of the test R_j of image j against images 1..j-1."""
    rho = 1 - (1 + 1 / (j * (j - 1))) / (6 * enl)
    omega2 = -bands / 4 * (1 - 1 / rho) ** 2
    return bands, rho, omega2


# ---------------------------------------------------------------------------------------------
# Tests on arrays: each image is an array (bands, ...) of linear intensities > 0


@dataclass
class OmnibusResult:
    """p-values of the omnibus test, the first change index (0: none), and optionally p(R_j)."""

    p: np.ndarray
    first_change: np.ndarray
    sequential: list


def omnibus(series, enl, alpha=DEFAULT_ALPHA, keep_sequential=False):
    """The omnibus test of a time series, and the sequential tests that date the first change.

    ``series`` yields k >= 2 arrays (bands, ...) in time order; it is consumed once, one image
    at a time, so a generator reading windows keeps memory independent of k. ``first_change``
    holds j (1-based index of the first image after the first significant change) where the
    omnibus p < alpha and p(R_j) < alpha first, else 0. With ``keep_sequential`` the p-values
    of R_2..R_k are kept too (for checks).
    """
    count = 0
    sequential = []
    for image in series:
        x = np.asarray(image, dtype=np.float64)
        log_x = np.log(x).sum(axis=0)
        count += 1
        if count == 1:
            bands = x.shape[0]
            total = x.copy()
            log_total = log_x
            sum_log = log_x.copy()
            first_sequential = np.zeros(x.shape[1:], dtype=np.uint8)
            continue
        j = count
        log_previous = log_total
        total += x
        log_total = np.log(total).sum(axis=0)
        sum_log += log_x
        ln_r = enl * (bands * (j * math.log(j) - (j - 1) * math.log(j - 1))
                      + (j - 1) * log_previous + log_x - j * log_total)
        dof, rho, omega2 = sequential_constants(j, enl, bands)
        p_j = corrected_sf(-2 * rho * ln_r, dof, omega2)
        first_sequential[(first_sequential == 0) & (p_j < alpha)] = j
        if keep_sequential:
            sequential.append(p_j)
    if count < 2:
        raise InputError("at least two images are needed")
    k = count
    ln_q = enl * (bands * k * math.log(k) + sum_log - k * log_total)
    dof, rho, omega2 = omnibus_constants(k, enl, bands)
    p = corrected_sf(-2 * rho * ln_q, dof, omega2)
    first = np.where(p < alpha, first_sequential, 0).astype(np.uint8)
    return OmnibusResult(p, first, sequential)


def mean_ratio_test(before, after, enl):
    """Exact test of equal means before and after, per band F, bands combined by Fisher.

    ``before`` and ``after`` yield arrays (bands, ...). Returns (p, log ratio in dB of the
    after mean over the before mean, per band).
    """
    sum_before, m1 = _sum(before)
    sum_after, m2 = _sum(after)
    if m1 == 0 or m2 == 0:
        raise InputError("images are needed both before and after the event")
    ratio = (sum_before / m1) / (sum_after / m2)
    d1, d2 = 2 * enl * m1, 2 * enl * m2
    lower = special.fdtr(d1, d2, ratio)
    upper = special.fdtrc(d1, d2, ratio)
    p_bands = np.clip(2 * np.minimum(lower, upper), _TINY, 1.0)
    fisher = -2 * np.log(p_bands).sum(axis=0)
    p = chi2_sf(fisher, 2 * p_bands.shape[0])
    return p, (-10 * np.log10(ratio)).astype(np.float32)


def _sum(series):
    total, count = None, 0
    for image in series:
        x = np.asarray(image, dtype=np.float64)
        total = x.copy() if total is None else total + x
        count += 1
    return total, count


# ---------------------------------------------------------------------------------------------
# ENL


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
        raise ParameterError("enl", f"too few valid {block} x {block} pixel blocks ({local.size}) to estimate "
                             "the ENL; give it as a number")
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


# ---------------------------------------------------------------------------------------------
# Parameters


def check_alpha(alpha):
    """The significance level as a float in (0, 0.5]."""
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        value = float("nan")
    if not (0 < value <= 0.5):
        raise ParameterError("alpha", f"the significance level must be a number in (0, 0.5], not {str(alpha)[:20]}")
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
        raise ParameterError("enl", f"the ENL must be a number from 1 to 1000, or 'estimate', not {str(enl)[:20]}")
    return value


def check_choice(value, choices, parameter):
    """The one of ``choices`` that ``value`` names (case ignored)."""
    for choice in choices:
        if str(value).strip().lower() == choice.lower():
            return choice
    raise ParameterError(parameter, f"must be one of {', '.join(choices)}, not {str(value)[:20]}")


def parse_event(event_date):
    """An aware datetime from a date (midnight UTC) or an ISO 8601 date-time; None stays None."""
    if event_date is None or isinstance(event_date, datetime):
        return event_date
    try:
        return dating.parse_time(str(event_date))
    except ValueError:
        raise ParameterError("event_date",
                             f"not a date (yyyy-mm-dd) or ISO 8601 date-time: {str(event_date)[:30]}") from None


# ---------------------------------------------------------------------------------------------
# Images


@dataclass
class Image:
    """One input: what the user called it, its time, and (once open) its view on the grid."""

    name: str
    time: datetime
    dataset: object = None
    indexes: tuple = (1, 2)
    product: object = None
    view: object = None


def _named(name, error):
    return InputError(f"{name}: {error}")


def open_images(images, stack, folder, progress, max_pixels):
    """Open every input, sort by time, calibrate products; the earliest image's grid is the reference.

    ``images`` is ``[(name, path), ...]``; datasets are entered into ``stack`` (an ExitStack).
    Inputs of more than ``max_pixels`` (width x height x bands) are refused before any work.
    Returns (images in time order, reference grid).
    """
    series = sorted((_describe(name, Path(path), stack, max_pixels) for name, path in images),
                    key=lambda image: image.time)
    for first, second in zip(series, series[1:]):
        if first.time == second.time:
            raise InputError(f"{first.name} and {second.name} have the same acquisition time")
    grid = None
    for number, image in enumerate(series):
        if image.product is not None:
            progress(number / len(series), f"calibrating {image.name}")
            path = calibrate_product(image.name, image.product, Path(folder) / f"sigma0-{number + 1}.tif", grid)
            image.dataset = stack.enter_context(open_raster(path, max_pixels=max_pixels))
            image.indexes = tuple(band_indexes(image.dataset, BANDS))
        if grid is None:
            grid = Grid.of(image.dataset)
        try:
            image.view = stack.enter_context(aligned(image.dataset, grid, Resampling.nearest))
        except InputError as error:
            raise _named(image.name, error) from None
    return series, grid


def _describe(name, path, stack, max_pixels):
    """An Image for a GeoTIFF (opened, bands found, dated) or a zipped product (dated, not yet calibrated)."""
    if is_zip(path):
        product = _read_product(name, path, max_pixels)
        return Image(name, product.start_time, product=product)
    try:
        dataset = stack.enter_context(open_raster(path, max_pixels=max_pixels))
        indexes = tuple(band_indexes(dataset, BANDS))
    except InputError as error:
        raise _named(name, error) from None
    # TIFFTAG_DATETIME is passed over: SAR exports record there when the file was made.
    when = dating.acquisition_time(dataset, name, tiff_datetime=False)
    if when is None:
        raise _named(name, "no acquisition time (ACQUISITION_DATE tag or a Sentinel-1 file name)")
    return Image(name, when, dataset, indexes)


def _read_product(name, path, max_pixels):
    """A zipped Sentinel-1 product's metadata (its reader is imported here, where it is needed)."""
    from .safe.sentinel1 import read_product

    try:
        product = read_product(path, max_pixels=max_pixels)
    except InputError as error:
        raise _named(name, error) from None
    if not set(BANDS) <= set(product.polarisations):
        raise _named(name, f"the product has {', '.join(product.polarisations)}; VV and VH are needed")
    return product


def calibrate_product(name, product, destination, grid):
    """A Sentinel-1 GRD product as linear sigma0 (VV, VH) on ``grid`` (its own when None)."""
    from .conversion.grd2tiff import calibrate

    target = None if grid is None else (grid.crs, grid.transform, grid.width, grid.height)
    try:
        return Path(calibrate(product, destination, grid=target)["path"])
    except InputError as error:
        raise _named(name, error) from None


def check_units(images, grid, units):
    """Refuse decibels given as linear values and linear values given as decibels."""
    for image in images:
        values = np.concatenate([values[:, valid] for values, valid in (
            read_masked(image.view, list(image.indexes), window)
            for window in sample_windows(grid, UNITS_WINDOW, UNITS_WINDOWS))], axis=None)
        if values.size == 0:
            continue
        negative = float((values < 0).mean())
        if units == "linear" and negative > MAX_NEGATIVE_LINEAR:
            raise _named(image.name, f"{negative:.0%} of the values are negative: decibels? Linear sigma0 "
                         "is positive; give units=dB for decibels")
        if units == "dB" and negative < MIN_NEGATIVE_DB:
            raise _named(image.name, "almost no value is negative, as in linear sigma0 but not in "
                         "decibels; give units=linear")


def sample_windows(grid, size, count):
    """Up to count x count windows of size x size pixels spread evenly over ``grid``.

    A few small windows read a few tiles: a decimated read of a whole image would decompress
    nearly every tile.
    """
    size = min(size, grid.width, grid.height)
    cols = np.linspace(0, grid.width - size, min(count, max(1, grid.width // size))).astype(int)
    rows = np.linspace(0, grid.height - size, min(count, max(1, grid.height // size))).astype(int)
    return [Window(int(col), int(row), size, size) for row in rows for col in cols]


def read_intensity(image, window, units):
    """Linear intensities (2, rows, cols) of ``image`` in ``window``, and where they are valid."""
    values, valid = read_masked(image.view, list(image.indexes), window)
    if units == "dB":
        values = np.power(np.float32(10), values / np.float32(10))
    valid &= (values > 0).all(axis=0)
    return values, valid


def enl_samples(images, grid, units):
    """Windows spread evenly over the grid, each image and band, NaN where invalid."""
    for image in images:
        for window in sample_windows(grid, ENL_WINDOW, ENL_WINDOWS):
            values, valid = read_intensity(image, window, units)
            for band in values:
                yield np.where(valid, band, np.nan)


# ---------------------------------------------------------------------------------------------
# Detection on rasters


def detect(images, folder, *, alpha=DEFAULT_ALPHA, enl=DEFAULT_ENL, event_date=None, units="linear",
           method="omnibus", window=WINDOW, progress=None, max_pixels=MAX_PIXELS):
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
                raise ParameterError("enl", f"the estimated ENL is {enl:.2f} (< 1): no homogeneous area was "
                                     "found; give the ENL as a number")
        paths = {name: folder / f"{name}.tif" for name in ("change_map", "change_mask", "change_date")}
        preview = Preview(grid)
        counts = _write_maps(series, grid, paths, test, before, after, enl, alpha, units, window, preview,
                             lambda done: report(calibrating + (0.95 - calibrating) * done, "testing for change"))
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
            raise ParameterError("event_date", f"{dating.format_time(event)} must fall after the first image "
                                 "and not after the last one")
        return "event", before, after
    if method == "logratio":
        return "logratio", [0], [len(series) - 1]
    return "omnibus", list(range(len(series))), []


def _write_maps(series, grid, paths, test, before, after, enl, alpha, units, window, preview, progress):
    """Test every window; write the three maps; return pixel counts for the summary."""
    threads = gdal_threads()
    count = 1 if test == "omnibus" else 1 + len(BANDS)
    map_profile = float_profile(grid, count=count, blocksize=BLOCKSIZE)
    index_profile = grid.profile(driver="GTiff", dtype="uint8", count=1, nodata=NODATA_INDEX, tiled=True,
                                 blockxsize=BLOCKSIZE, blockysize=BLOCKSIZE, compress="deflate")
    counts = {"valid": 0, "changed": 0, "first_change": np.zeros(len(series) + 1, dtype=np.int64)}
    tags = _tags(series, test, enl, alpha)
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
        for done, block in enumerate(blocks, start=1):
            p, first, log_ratio, valid = _test_window(series, block, test, before, after, enl, alpha, units)
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
            counts["first_change"] += np.bincount(first[changed], minlength=len(series) + 1)[: len(series) + 1]
            progress(done / len(blocks))
    return counts


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


def _tags(series, test, enl, alpha):
    return {
        "CHANGE_TEST": test,
        "ALPHA": f"{alpha:g}",
        "ENL": f"{enl:.4g}",
        "DATES": ",".join(dating.format_time(image.time) for image in series),
        "FIRST_CHANGE_INDEX": "1-based index in DATES of the first image after the change; 0 = none",
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
        {"index": j, "time": dating.format_time(series[j - 1].time), "pixels": int(counts["first_change"][j])}
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
        "images": [{"index": i + 1, "name": image.name, "time": dating.format_time(image.time)}
                   for i, image in enumerate(series)],
        **({"event_date": dating.format_time(event)} if test == "event" else {}),
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
