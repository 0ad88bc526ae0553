"""Tests of change in Sentinel-1 VV+VH time series, with a known false-alarm rate, on arrays.

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
"""

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from ..errors import InputError

DEFAULT_ALPHA = 0.01
_TINY = 1e-300


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
