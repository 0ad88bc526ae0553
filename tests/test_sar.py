"""candela.change.sar and omnibus: calibration of the tests on simulated speckle, and detection on rasters.

Speckle is simulated as the model says: linear sigma0 = mean x Gamma(L, 1/L), VV and VH and
dates independent. A calibrated test flags ``alpha`` of the no-change pixels (checked to 4
standard errors) and gives them uniform p-values (Kolmogorov-Smirnov); the same checks are
shown to fail on a wrong ENL, on decibels taken for linear values, and without the rho/omega2
correction, so they can fail.
"""

import json
from datetime import datetime, timedelta

import numpy as np
import pytest
import rasterio
from affine import Affine
from scipy import optimize, stats

from candela.change import omnibus, sar
from candela.change.enl import estimate_enl
from candela.errors import InputError
from candela.rasters.dating import format_time
from candela.rasters.grid import Grid
from candela.rasters.quicklook import Preview
from candela.rasters.reading import windows
from helpers.rasters import LOOKS, SAR_TRANSFORM, START, sar_scene, speckle, write_sar

L = LOOKS
ALPHA = 0.01
THREE_DB = 10 ** 0.3


def calibration(p, alpha=ALPHA):
    """(false-alarm rate, its standard error under H0, KS p-value against uniform)."""
    p = np.ravel(p)
    far = float((p < alpha).mean())
    return far, (alpha * (1 - alpha) / p.size) ** 0.5, stats.kstest(p, "uniform").pvalue


def calibrated(p, alpha=ALPHA):
    """Whether p-values of no-change pixels look right: FAR within 4 SE of alpha, KS not rejected."""
    far, se, ks = calibration(p, alpha)
    return abs(far - alpha) <= 4 * se and ks > 1e-3


# Distributions


def test_chi2_sf_is_the_chi_square_survival_function():
    z = np.array([0.0, 0.3, 2.0, 9.5, 40.0, 300.0])
    for dof in (1, 2, 3, 4, 6, 18, 98):
        assert np.allclose(omnibus.chi2_sf(z, dof), stats.chi2.sf(z, dof), rtol=1e-10, atol=1e-300)
    for dof in (1, 2, 8):
        expected = stats.chi2.sf(z, dof) - 0.01 * (stats.chi2.sf(z, dof + 4) - stats.chi2.sf(z, dof))
        assert np.allclose(omnibus.corrected_sf(z, dof, -0.01), np.clip(expected, 0, 1), rtol=1e-10, atol=1e-300)


def test_constants_for_two_dates_agree_between_omnibus_and_sequential():
    # k = 2: Q = R_2, rho = 1 - 1/(4n) for both (diagonal case: p = 1 per band, summed over 2 bands).
    dof, rho, omega2 = omnibus.omnibus_constants(2, L)
    assert (dof, rho) == (2, pytest.approx(1 - 1 / (4 * L)))
    assert omnibus.sequential_constants(2, L) == pytest.approx((dof, rho, omega2))
    assert omega2 == pytest.approx(-2 / 4 * (1 - 1 / rho) ** 2)


# Omnibus test: false alarms, uniformity, power


@pytest.mark.parametrize("k", [2, 5, 10])
def test_omnibus_false_alarm_rate_is_alpha_and_p_values_uniform(k):
    rng = np.random.default_rng(k)
    series = speckle(rng, np.full((k, 2, 200_000), [[0.1], [0.02]]))
    result = omnibus.omnibus(series, L, ALPHA, keep_sequential=True)
    far, se, ks = calibration(result.p)
    assert abs(far - ALPHA) <= 4 * se, (far, se)
    assert ks > 1e-3
    # The sequential tests are uniform too, and a first-change date needs a significant omnibus test.
    assert len(result.sequential) == k - 1
    for p_j in result.sequential:
        assert calibrated(p_j)
    dated = result.first_change > 0
    assert dated.mean() <= far and np.all(result.p[dated] < ALPHA)


def test_one_polarisation_alone_is_calibrated_too():
    rng = np.random.default_rng(6)
    for k in (2, 5):
        assert calibrated(omnibus.omnibus(speckle(rng, np.full((k, 1, 200_000), 0.1)), L).p)


def test_full_matrix_constants_would_miscalibrate_the_diagonal_case():
    """p = 2 (the full 2 x 2 covariance matrix, f = 4 (k - 1)) tests a VV-VH term GRD lacks."""
    rng = np.random.default_rng(7)
    k, p = 5, 2
    series = speckle(rng, np.full((k, 2, 200_000), 0.1))
    ln_q = L * (p * k * np.log(k) + np.log(series).sum(axis=(0, 1)) - k * np.log(series.sum(axis=0)).sum(axis=0))
    rho = 1 - (2 * p * p - 1) / (6 * (k - 1) * p) * (k / L - 1 / (L * k))
    full_matrix = stats.chi2.sf(-2 * rho * ln_q, (k - 1) * p * p)
    assert calibration(full_matrix)[0] < ALPHA / 10


def test_wrong_enl_breaks_the_calibration():
    rng = np.random.default_rng(1)
    series = speckle(rng, np.full((5, 2, 200_000), 0.1))
    assert calibrated(omnibus.omnibus(series, L).p)
    too_many, too_few = omnibus.omnibus(series, 2 * L).p, omnibus.omnibus(series, L / 2).p
    assert calibration(too_many)[0] > 5 * ALPHA  # an ENL too high sees change everywhere
    assert calibration(too_few)[0] < ALPHA / 5  # too low, nowhere
    assert not calibrated(too_many) and not calibrated(too_few)


def test_decibels_taken_for_linear_values_break_the_calibration():
    rng = np.random.default_rng(2)
    # Intensities on a scale where every decibel value is positive, so that the logarithms exist
    # (the linear test does not depend on the scale).
    linear = speckle(rng, np.full((5, 2, 200_000), 1e4))
    decibels = 10 * np.log10(linear)
    assert decibels.min() > 0
    assert calibrated(omnibus.omnibus(linear, L).p)
    assert not calibrated(omnibus.omnibus(decibels, L).p)


def test_the_small_sample_correction_is_needed():
    rng = np.random.default_rng(3)
    k = 10
    series = speckle(rng, np.full((k, 2, 200_000), 0.1))
    assert calibrated(omnibus.omnibus(series, L).p)
    ln_q = L * (2 * k * np.log(k) + np.log(series).sum(axis=(0, 1)) - k * np.log(series.sum(axis=0)).sum(axis=0))
    uncorrected = stats.chi2.sf(-2 * ln_q, 2 * (k - 1))
    assert not calibrated(uncorrected)


def omnibus_power_two_dates(scale, enl=L, alpha=ALPHA, nodes=4000):
    """Exact power of the 2-date, 2-band omnibus test when both bands change by ``scale``.

    Per band, -2 rho ln Q is z(r) = 2 rho n [2 ln(1 + r) - ln r - 2 ln 2] of the ratio r of the
    two intensities, r ~ F(2n, 2n) / scale; z is symmetric in ln r. The test rejects when
    z(r_VV) + z(r_VH) exceeds the z whose corrected p-value is alpha. The power is the
    expectation over r_VV (midpoint rule on its quantiles) of P(z(r_VH) > threshold - z(r_VV)),
    which is P(r < 1/t) + P(r > t) at the root t > 1 of z(t) = c: no simulation.
    """
    _, rho, omega2 = omnibus.omnibus_constants(2, enl)
    threshold = optimize.brentq(lambda z: omnibus.corrected_sf(z, 2, omega2) - alpha, 1e-6, 200)

    def z_of_log_ratio(t):
        return 2 * rho * enl * (2 * np.logaddexp(0, t) - t - 2 * np.log(2))

    f = stats.f(2 * enl, 2 * enl)
    u = (np.arange(nodes) + 0.5) / nodes
    r_vv = f.ppf(u) / scale
    need = threshold - z_of_log_ratio(np.log(r_vv))
    low, high = np.zeros_like(need), np.full_like(need, 60.0)
    for _ in range(80):  # bisection for the root t of z(t) = need, t = ln r > 0
        middle = (low + high) / 2
        above = z_of_log_ratio(middle) > need
        high, low = np.where(above, middle, high), np.where(above, low, middle)
    root = np.exp(high)
    beyond = f.cdf(scale / root) + f.sf(scale * root)
    return float(np.where(need <= 0, 1.0, beyond).mean())


def test_omnibus_power_for_a_3db_change_matches_theory():
    rng = np.random.default_rng(4)
    n = 40_000
    means = np.full((2, 2, n), [[0.1], [0.02]])
    means[1] *= THREE_DB
    detected = float((omnibus.omnibus(speckle(rng, means), L).p < ALPHA).mean())
    expected = omnibus_power_two_dates(THREE_DB)
    se = (expected * (1 - expected) / n) ** 0.5
    assert expected > 5 * ALPHA  # clearly more than the false alarms: the comparison means something
    assert abs(detected - expected) <= 4 * se, (detected, expected)
    # A decrease is as detectable as an increase (the test is two-sided).
    assert omnibus_power_two_dates(1 / THREE_DB) == pytest.approx(expected, abs=1e-3)


# Event-date test (exact F)


@pytest.mark.parametrize("m1, m2", [(1, 1), (2, 3), (5, 5)])
def test_event_test_false_alarm_rate_is_alpha_and_p_values_uniform(m1, m2):
    rng = np.random.default_rng(10 * m1 + m2)
    series = speckle(rng, np.full((m1 + m2, 2, 200_000), [[0.1], [0.02]]))
    p, log_ratio = omnibus.mean_ratio_test(series[:m1], series[m1:], L)
    assert calibrated(p)
    assert log_ratio.shape == (2, 200_000)


def event_power(scale, m1, m2, enl=L, alpha=ALPHA, nodes=20000):
    """Exact power of the Fisher-combined F tests when both bands change by ``scale``.

    ``scale`` is the true mean before over the mean after. Per band r = mean before / mean
    after ~ scale F(2n m1, 2n m2); the test rejects when p_VV p_VH < c = exp(-chi2_4(1 - alpha) / 2),
    and for a given p_VV, P(p_VH < t) is F.cdf(q(t/2) / scale) + F.sf(q(1 - t/2) / scale) with q
    the F quantiles.
    """
    f = stats.f(2 * enl * m1, 2 * enl * m2)
    c = np.exp(-stats.chi2.isf(alpha, 4) / 2)
    u = (np.arange(nodes) + 0.5) / nodes
    r_vv = scale * f.ppf(u)
    p_vv = np.minimum(1, 2 * np.minimum(f.cdf(r_vv), f.sf(r_vv)))
    t = np.minimum(c / p_vv, 1.0)
    p_vh_below = np.where(t >= 1, 1.0, f.cdf(f.ppf(t / 2) / scale) + f.sf(f.isf(t / 2) / scale))
    return float(p_vh_below.mean())


@pytest.mark.parametrize("m1, m2", [(1, 1), (2, 3), (5, 5)])
def test_event_test_power_for_a_3db_change_matches_theory(m1, m2):
    rng = np.random.default_rng(20 + m1 + m2)
    n = 40_000
    means = np.full((m1 + m2, 2, n), [[0.1], [0.02]])
    means[m1:] /= THREE_DB  # a loss of backscatter, as when a forest is cut
    series = speckle(rng, means)
    p, log_ratio = omnibus.mean_ratio_test(series[:m1], series[m1:], L)
    detected = float((p < ALPHA).mean())
    expected = event_power(THREE_DB, m1, m2)
    se = (expected * (1 - expected) / n) ** 0.5
    assert abs(detected - expected) <= 4 * se, (detected, expected)
    assert np.median(log_ratio) == pytest.approx(-3.0, abs=0.5)


def test_first_change_dates_a_step_change():
    rng = np.random.default_rng(5)
    k, n = 6, 20_000
    means = np.full((k, 2, 2 * n), 0.1)
    means[3:, :, :n] *= 10.0  # +10 dB from the 4th image on, in the first half only
    result = omnibus.omnibus(speckle(rng, means), L, ALPHA)
    changed, unchanged = result.first_change[:n], result.first_change[n:]
    assert (changed == 4).mean() > 0.95
    assert (unchanged > 0).mean() <= 4 * ALPHA


# ENL


@pytest.mark.parametrize("looks", [1.0, 4.4, 10.0])
def test_enl_estimate_recovers_the_looks_despite_texture_and_edges(looks):
    rng = np.random.default_rng(int(looks * 10))
    images = []
    for _ in range(2):
        means = np.repeat(np.repeat(10 ** rng.uniform(-2, 0, (4, 4)), 128, axis=0), 128, axis=1)
        means[:, :200] *= rng.gamma(2, 1 / 2, (512, 200))  # textured (K-distributed) 40 %
        images.append(speckle(rng, means, looks))
    enl, blocks = estimate_enl(images)
    assert enl == pytest.approx(looks, rel=0.05)
    assert blocks == 2 * 32 * 32


def test_enl_estimate_needs_enough_blocks():
    with pytest.raises(InputError, match="too few") as error:
        estimate_enl([np.ones((20, 20))])
    assert error.value.input == "enl"


@pytest.mark.parametrize("value", ["0", "-2", "abc", "nan", "5000", ""])
def test_bad_enl_is_refused(value):
    with pytest.raises(InputError) as error:
        sar.check_enl(value)
    assert error.value.input == "enl"


@pytest.mark.parametrize("value", ["0", "1", "-0.1", "x", "0.7"])
def test_bad_alpha_is_refused(value):
    with pytest.raises(InputError) as error:
        sar.check_alpha(value)
    assert error.value.input == "alpha"


# Rasters


@pytest.fixture
def series(tmp_path):
    """Four dated images (12 days apart) as [(name, path)], and their values."""
    rng = np.random.default_rng(7)
    values = sar_scene(rng, 4, change_at=3)
    values[1, :, 5, 7] = np.nan  # a no-data pixel in one image
    images = []
    for i in range(4):
        path = write_sar(tmp_path / f"s1_{i}.tif", values[i], START + timedelta(days=12 * i))
        images.append((path.name, path))
    return images, values


def read(path, band=1):
    with rasterio.open(path) as dataset:
        return dataset.read(band)


def test_detect_writes_maps_on_the_first_grid_and_windows_do_not_matter(series, tmp_path):
    images, values = series
    small, large = tmp_path / "small", tmp_path / "large"
    small.mkdir(), large.mkdir()
    result = sar.detect(images, small, window=64)
    whole = sar.detect(images, large, window=4096)
    expected = omnibus.omnibus(values.astype(np.float64), L, ALPHA)
    for name in ("change_map", "change_mask", "change_date"):
        assert np.array_equal(read(result[name]), read(whole[name]), equal_nan=True), name
    with rasterio.open(result["change_map"]) as change_map:
        assert change_map.dtypes == ("float32",) and change_map.crs == "EPSG:32631"
        assert change_map.transform == SAR_TRANSFORM and change_map.shape == (200, 260)
        assert change_map.tags()["DATES"].count(",") == 3
        probability = change_map.read(1)
    assert np.isnan(probability[5, 7]) and np.nanmin(probability) >= 0 and np.nanmax(probability) <= 1
    valid = ~np.isnan(probability)
    assert np.allclose(probability[valid], (1 - expected.p)[valid], atol=1e-6)
    mask, date = read(result["change_mask"]), read(result["change_date"])
    assert mask[5, 7] == 255 and date[5, 7] == 255
    assert set(np.unique(mask)) <= {0, 1, 255} and np.array_equal(mask[valid], (expected.p < ALPHA)[valid])
    assert np.array_equal(date[valid], expected.first_change[valid])
    assert (date[:60, :80] == 3).mean() > 0.95 and (mask[60:, 80:] == 1).mean() < 3 * ALPHA
    summary = result["summary"]
    json.dumps(summary)
    assert summary["test"] == "omnibus" and summary["enl"] == L and summary["alpha"] == ALPHA
    assert summary["valid_pixels"] == 200 * 260 - 1
    assert summary["changed_fraction"] == pytest.approx(mask[valid].mean())
    assert summary["first_change"][0]["index"] in (2, 3)
    with rasterio.open(result["quicklook"]) as png:
        assert png.driver == "PNG" and png.count == 4


def test_input_order_does_not_matter(series, tmp_path):
    images, _ = series
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    ordered = sar.detect(images, first)
    shuffled = sar.detect([images[2], images[0], images[3], images[1]], second)
    assert [i["name"] for i in shuffled["summary"]["images"]] == [name for name, _ in images]
    for name in ("change_map", "change_mask", "change_date"):
        assert np.array_equal(read(ordered[name]), read(shuffled[name]), equal_nan=True)


def test_images_are_dated_by_sentinel1_names_when_untagged(tmp_path):
    rng = np.random.default_rng(8)
    values = sar_scene(rng, 2)
    names = ["S1A_IW_GRDH_1SDV_20230113T054310_20230113T054335_046764_059B8F_0001.tif",
             "S1A_IW_GRDH_1SDV_20230101T054311_20230101T054336_046589_0595A1_8D4A.tif"]
    images = [(name, write_sar(tmp_path / name, values[i])) for i, name in enumerate(names)]
    result = sar.detect(images, tmp_path)
    assert [i["time"] for i in result["summary"]["images"]] == ["2023-01-01T05:43:11Z", "2023-01-13T05:43:10Z"]


def test_decibel_input_gives_the_same_result_as_linear(series, tmp_path):
    images, values = series
    decibel_images = []
    for i, (name, path) in enumerate(images):
        with rasterio.open(path) as dataset:
            when = dataset.tags()["ACQUISITION_DATE"]
        decibel_images.append((name, write_sar(tmp_path / f"db_{i}.tif", 10 * np.log10(values[i]),
                                                  datetime.fromisoformat(when.replace("Z", "+00:00")))))
    linear, decibels = tmp_path / "linear", tmp_path / "decibels"
    linear.mkdir(), decibels.mkdir()
    expected = sar.detect(images, linear)
    result = sar.detect(decibel_images, decibels, units="dB")
    assert np.allclose(read(result["change_map"]), read(expected["change_map"]), atol=1e-4, equal_nan=True)
    assert result["summary"]["units"] == "dB"


def test_decibels_given_as_linear_and_linear_as_decibels_are_refused(series, tmp_path):
    images, values = series
    decibels = [(f"db{i}.tif", write_sar(tmp_path / f"db{i}.tif", 10 * np.log10(values[i]),
                                           START + timedelta(days=i))) for i in range(2)]
    with pytest.raises(InputError, match="db0.tif.*negative.*units=dB"):
        sar.detect(decibels, tmp_path)
    with pytest.raises(InputError, match="s1_0.tif.*units=linear"):
        sar.detect(images, tmp_path, units="dB")


def test_images_on_another_grid_are_read_on_the_first_images_grid(tmp_path):
    rng = np.random.default_rng(9)
    values = sar_scene(rng, 2, shape=(120, 120))
    early = write_sar(tmp_path / "early.tif", values[0], START)
    # The later image is 10 pixels wider on the left: its pixel (r, c + 10) is the early image's (r, c).
    shifted = np.full((2, 120, 130), np.nan, dtype=np.float32)
    shifted[:, :, 10:] = values[1]
    late = write_sar(tmp_path / "late.tif", shifted, START + timedelta(days=12),
                       transform=SAR_TRANSFORM @ Affine.translation(-10, 0))
    result = sar.detect([("late", late), ("early", early)], tmp_path)
    expected = omnibus.omnibus(values.astype(np.float64), L, ALPHA)
    assert np.allclose(read(result["change_map"]), 1 - expected.p, atol=1e-6)
    assert Grid.of(rasterio.open(result["change_map"])).same_as(Grid.of(rasterio.open(early)))


def test_event_date_and_logratio_write_log_ratios(series, tmp_path):
    images, values = series
    result = sar.detect(images, tmp_path, event_date="2023-01-20")
    summary = result["summary"]
    assert summary["test"] == "event" and summary["before"] == [1, 2] and summary["after"] == [3, 4]
    with rasterio.open(result["change_map"]) as change_map:
        assert change_map.count == 3
        assert change_map.descriptions == ("change_probability", "VV_log_ratio_dB", "VH_log_ratio_dB")
        log_ratio = change_map.read(2)
    assert np.nanmedian(log_ratio[:60, :80]) == pytest.approx(10, abs=1)
    assert np.nanmedian(log_ratio[60:, 80:]) == pytest.approx(0, abs=0.3)
    date = read(result["change_date"])
    assert set(np.unique(date[:60, :80])) <= {0, 3, 255} and (date[:60, :80] == 3).mean() > 0.95
    logratio = sar.detect(images, tmp_path, method="logratio")
    assert logratio["summary"]["test"] == "logratio" and logratio["summary"]["after"] == [4]


def test_maps_say_their_change_period(series, tmp_path):
    """PERIOD_START and PERIOD_END (what ParcelDamage reads from any change map): the series'
    first and last dates, or for an event the last image before it and the first after."""
    images, _ = series
    day = [format_time(START + timedelta(days=12 * i)) for i in range(4)]
    for options, period in (({}, (day[0], day[3])), ({"method": "logratio"}, (day[0], day[3])),
                            ({"event_date": "2023-01-20"}, (day[1], day[2]))):
        folder = tmp_path / (options.get("method") or ("event" if options else "omnibus"))
        folder.mkdir()
        result = sar.detect(list(reversed(images)), folder, **options)
        with rasterio.open(result["change_map"]) as change_map:
            tags = change_map.tags()
        assert (tags["PERIOD_START"], tags["PERIOD_END"]) == period, options


def test_enl_can_be_estimated_from_the_images(series, tmp_path):
    images, _ = series
    result = sar.detect(images, tmp_path, enl="estimate")
    assert result["summary"]["enl_source"] == "estimated"
    assert result["summary"]["enl"] == pytest.approx(L, rel=0.1)


def test_one_image_is_refused(series, tmp_path):
    images, _ = series
    with pytest.raises(InputError, match="at least two images"):
        sar.detect(images[:1], tmp_path)


@pytest.mark.parametrize("descriptions, count, message", [
    (("HH", "HV"), 2, "VV, VH expected.*HH, HV"),
    (("VV",), 1, "missing VH"),
    (None, 1, "2 bands expected"),
])
def test_mismatched_polarisations_are_refused(series, tmp_path, descriptions, count, message):
    images, values = series
    odd = write_sar(tmp_path / "odd.tif", values[1][:count], START + timedelta(days=100), descriptions)
    with pytest.raises(InputError, match=f"odd.tif: .*{message}"):
        sar.detect([images[0], ("odd.tif", odd)], tmp_path)


def test_unnamed_bands_are_taken_as_vv_then_vh(series, tmp_path):
    images, values = series
    unnamed = write_sar(tmp_path / "unnamed.tif", values[1], START + timedelta(days=12), descriptions=None)
    result = sar.detect([images[0], ("unnamed.tif", unnamed)], tmp_path)
    assert result["summary"]["valid_pixels"] > 0


def test_non_overlapping_stacks_are_refused(series, tmp_path):
    images, values = series
    far_away = write_sar(tmp_path / "far.tif", values[1], START + timedelta(days=12),
                           transform=SAR_TRANSFORM @ Affine.translation(10000, 0))
    with pytest.raises(InputError, match="far.tif: .*does not overlap"):
        sar.detect([images[0], ("far.tif", far_away)], tmp_path)


def test_undated_and_same_time_images_are_refused(series, tmp_path):
    images, values = series
    undated = write_sar(tmp_path / "undated.tif", values[1])
    with pytest.raises(InputError, match="undated.tif: no acquisition time"):
        sar.detect([images[0], ("undated.tif", undated)], tmp_path)
    twin = write_sar(tmp_path / "twin.tif", values[1], START)
    with pytest.raises(InputError, match="same acquisition time"):
        sar.detect([images[0], ("twin.tif", twin)], tmp_path)


@pytest.mark.parametrize("options, parameter", [
    ({"alpha": 2}, "alpha"), ({"enl": "many"}, "enl"), ({"units": "dBm"}, "units"),
    ({"method": "magic"}, "method"), ({"event_date": "yesterday"}, "event_date"),
    ({"event_date": "2022-01-01"}, "event_date"), ({"event_date": "2024-01-01"}, "event_date"),
])
def test_bad_parameters_name_the_parameter(series, tmp_path, options, parameter):
    images, _ = series
    with pytest.raises(InputError) as error:
        sar.detect(images, tmp_path, **options)
    assert error.value.input == parameter


def test_zipped_products_are_calibrated_onto_the_common_grid(series, tmp_path, monkeypatch):
    """The SAFE path, with Sentinel-1 reading and calibration replaced by stand-ins."""
    from types import SimpleNamespace

    from candela.conversion import grd2tiff
    from candela.safe import sentinel1

    images, values = series
    product_zip = tmp_path / "S1A_IW_GRDH_1SDV_20221220T054312_20221220T054337_046414_058F31_1234.zip"
    import zipfile

    with zipfile.ZipFile(product_zip, "w") as archive:
        archive.writestr("product.SAFE/manifest.safe", "<xml/>")
    calls = []

    def read_product(path, max_pixels):
        return SimpleNamespace(path=path, polarisations=("VV", "VH"), start_time=START - timedelta(days=12))

    def calibrate(product, destination, *, crs=None, resolution=10.0, grid=None, progress=None):
        calls.append(grid)
        write_sar(destination, values[0] * 1.0, product.start_time)
        return {"path": str(destination)}

    monkeypatch.setattr(sentinel1, "read_product", read_product)
    monkeypatch.setattr(grd2tiff, "calibrate", calibrate)
    result = sar.detect([images[1], ("product.zip", product_zip)], tmp_path)
    # The product is the earliest image: calibrated on its own grid, and the reference.
    assert calls == [None]
    assert [i["name"] for i in result["summary"]["images"]] == ["product.zip", images[1][0]]
    later = tmp_path / "later.zip"
    later.write_bytes(product_zip.read_bytes())
    monkeypatch.setattr(sentinel1, "read_product", lambda path, max_pixels: SimpleNamespace(
        path=path, polarisations=("VV", "VH"), start_time=START + timedelta(days=100)))
    sar.detect([images[0], ("later.zip", later)], tmp_path)
    crs, transform, width, height = calls[-1]
    assert (transform, width, height) == (SAR_TRANSFORM, 260, 200) and crs == "EPSG:32631"
    monkeypatch.setattr(sentinel1, "read_product", lambda path, max_pixels: SimpleNamespace(
        path=path, polarisations=("HH", "HV"), start_time=START))
    with pytest.raises(InputError, match="later.zip: .*VV and VH are needed"):
        sar.detect([images[1], ("later.zip", later)], tmp_path)


def test_quicklook_preview_averages_cells_whatever_the_windows():
    grid = Grid(rasterio.crs.CRS.from_epsg(32631), SAR_TRANSFORM, 25, 31)
    values = np.random.default_rng(11).random((31, 25)).astype(np.float32)
    values[4, 4] = np.nan
    preview = Preview(grid, size=10)
    assert preview.factor == 4 and preview.sums.shape == (8, 7)
    for window in windows(25, 31, 7):
        rows, cols = window.toslices()
        preview.add(values[rows, cols], window)
    padded = np.full((32, 28), np.nan)
    padded[:31, :25] = values
    expected = np.nanmean(padded.reshape(8, 4, 7, 4), axis=(1, 3))
    assert np.allclose(preview.sums / preview.counts, expected)
