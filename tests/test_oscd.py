"""The OSCD dataset (../shared/data/oscd): stacks, dates, labels, and the evaluation harness."""

import importlib.util
import sys
import types
from datetime import date, datetime, timezone

import numpy as np
import pytest
import rasterio

from candela.datasets import oscd
from candela.rasters.dating import ACQUISITION_TAG, format_time
from candela.errors import InputError

from helpers.paths import ROOT, shared_path

pytestmark = pytest.mark.shared

#: The smallest labelled city (395 x 360 px; both dates on one grid).
SMALL = "bercy"


@pytest.fixture(scope="module")
def root():
    return shared_path("data", "oscd")


@pytest.fixture(scope="module")
def harness():
    """benchmarks/evaluate_oscd.py, imported as a module."""
    spec = importlib.util.spec_from_file_location("evaluate_oscd", ROOT / "benchmarks" / "evaluate_oscd.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def baselines(root, harness):
    """The harness' baselines on every labelled city (about 4 s)."""
    return harness.evaluate(root, methods=())


def test_cities(root):
    assert oscd.cities(root, labelled=True) == list(oscd.LABELLED)
    assert oscd.cities(root, labelled=False) == list(oscd.UNLABELLED)
    assert oscd.cities(root) == sorted(oscd.LABELLED + oscd.UNLABELLED)


def test_dates(root):
    first, second = oscd.dates(root, "paris")
    assert (first.date(), second.date()) == (date(2016, 11, 30), date(2017, 11, 7))  # dates.txt
    assert first.tzinfo is not None
    assert second == datetime(2017, 11, 7, 10, 52, 29, tzinfo=timezone.utc)  # T31UDQ_20171107T105229_B02.tif


def test_paris_date_1_stack(root, tmp_path):
    path = oscd.write_stack(root, "paris", 1, tmp_path / "paris_1.tif")
    b02 = oscd.band_path(root, "paris", 1, "B02")
    with rasterio.open(path) as stack, rasterio.open(b02) as band:
        assert stack.count == 4 and stack.dtypes[0] == "uint16"
        assert stack.descriptions == oscd.BANDS
        assert stack.tags()[ACQUISITION_TAG] == format_time(oscd.dates(root, "paris")[0])
        assert stack.tags()[ACQUISITION_TAG].startswith("2016-11-30T")
        assert (stack.shape, stack.transform, stack.crs) == (band.shape, band.transform, band.crs)
        np.testing.assert_array_equal(stack.read(1), band.read(1))  # no resampling on its own grid
    floats = oscd.write_stack(root, "paris", 1, tmp_path / "paris_1f.tif", bands=("B08",), dtype="float32")
    with rasterio.open(floats) as stack:
        assert stack.dtypes[0] == "float32" and stack.descriptions == ("B08",)


def test_abudhabi_date_2_on_the_date_1_grid(root, tmp_path):
    height, width, transform, crs = oscd.grid(root, "abudhabi", 1)
    with rasterio.open(oscd.band_path(root, "abudhabi", 2, "B02")) as band:
        own_shape = band.shape
    assert own_shape != (height, width)  # the case this is about
    path = oscd.write_stack(root, "abudhabi", 2, tmp_path / "abudhabi_2.tif", grid_of=1)
    with rasterio.open(path) as stack:
        assert stack.shape == (height, width)
        assert stack.transform == transform and stack.crs == crs
        assert stack.tags()[ACQUISITION_TAG].startswith("2018-03-28T")
        data = stack.read()
    assert (data > 0).all()  # both dates cover the same extent: no pixel left empty
    own, _ = oscd.read_stack(root, "abudhabi", 2)
    assert own.shape == (4,) + own_shape


@pytest.mark.parametrize("city", oscd.LABELLED)
def test_labels_on_the_date_1_grid(root, city):
    labels = oscd.read_labels(root, city)
    height, width, _, _ = oscd.grid(root, city, 1)
    assert labels.dtype == bool and labels.shape == (height, width)
    assert 0 < labels.mean() < 0.05  # changes are rare


def test_errors_name_the_problem(root):
    with pytest.raises(InputError, match="unknown OSCD city 'atlantis'"):
        oscd.dates(root, "atlantis")
    with pytest.raises(InputError, match="unknown OSCD city"):
        oscd.band_path(root, "../labels", 1, "B02")
    with pytest.raises(InputError, match="no band SCL"):
        oscd.band_path(root, "paris", 1, "SCL")
    with pytest.raises(InputError, match="unknown band"):
        oscd.read_stack(root, "paris", 1, bands=("B02", "B13"))
    with pytest.raises(InputError, match="no change labels"):
        oscd.read_labels(root, "dubai")
    with pytest.raises(InputError, match="1 or 2"):
        oscd.band_path(root, "paris", 3, "B02")


def independent_zcva(root, city):
    """zCVA of a city straight from its band files (no resampling needed), and its label."""
    def standardised(index):
        layers = []
        for band in oscd.BANDS:
            with rasterio.open(oscd.band_path(root, city, index, band)) as dataset:
                layer = dataset.read(1).astype(np.float64)
            layers.append((layer - layer.mean()) / layer.std())
        return np.stack(layers)

    with rasterio.open(root / "labels" / city / f"{city}-cm.tif") as dataset:
        labels = dataset.read(1) == 2
    return np.sqrt(((standardised(1) - standardised(2)) ** 2).sum(axis=0)), labels


def pairwise_auroc(scores, labels):
    """P(changed pixel outscores an unchanged one), ties one half, by sorted search."""
    negatives = np.sort(scores[~labels])
    below = np.searchsorted(negatives, scores[labels], side="left")
    not_above = np.searchsorted(negatives, scores[labels], side="right")
    return (below.sum() + 0.5 * (not_above - below).sum()) / (labels.sum() * negatives.size)


def test_zcva_on_one_city_matches_an_independent_computation(root, baselines):
    scores, labels = independent_zcva(root, SMALL)
    figures = baselines["methods"]["zcva"]["cities"][SMALL]
    assert figures["auroc"] == pytest.approx(pairwise_auroc(scores, labels), abs=1e-9)
    # Block r: whole 16 x 16 blocks only (395 x 360 px: 24 x 22 blocks).
    mean = scores[:384, :352].reshape(24, 16, 22, 16).mean(axis=(1, 3))
    changed = labels[:384, :352].reshape(24, 16, 22, 16).mean(axis=(1, 3))
    assert figures["block_r"] == pytest.approx(np.corrcoef(mean.ravel(), changed.ravel())[0, 1], abs=1e-9)
    assert figures["pixels"] == labels.size and figures["changed"] == labels.sum()
    methods = baselines["methods"]
    assert methods["zcva"]["cities"][SMALL]["auroc"] > methods["euclid_raw"]["cities"][SMALL]["auroc"]
    assert methods["zcva_5x5"]["cities"][SMALL]["auroc"] > methods["zcva"]["cities"][SMALL]["auroc"]


def test_baseline_means_reproduce_the_dataset_readme(baselines, harness):
    assert baselines["cities"] == list(oscd.LABELLED)
    for name, reference in harness.REFERENCE.items():
        for figure, value in reference.items():
            assert baselines["methods"][name]["mean"][figure] == pytest.approx(value, abs=harness.TOLERANCE), \
                (name, figure)
    assert "within ±0.003" in harness.markdown(baselines)


def test_changedetect_methods_skipped_while_absent(root, harness, monkeypatch):
    monkeypatch.setitem(sys.modules, "candela.change.changedetect", None)  # as if the module did not exist
    result = harness.evaluate(root, methods=["autoencoder"], cities=[SMALL], baselines=["euclid_raw"])
    assert result["skipped"] == {"autoencoder": "candela.change.changedetect does not exist yet"}
    assert list(result["methods"]) == ["euclid_raw"]
    assert "autoencoder | skipped" in harness.markdown(result)


def test_changedetect_methods_scored_from_their_output(root, harness, monkeypatch, tmp_path):
    """A stand-in ``detect`` writing zCVA must score as the zcva baseline does."""
    calls = []

    def detect(before_path, after_path, destination, method="autoencoder", model=None):
        calls.append((method, model))
        with rasterio.open(before_path) as before, rasterio.open(after_path) as after:
            assert before.descriptions == oscd.BANDS and ACQUISITION_TAG in after.tags()
            probability = harness.zcva(before.read(), after.read()).astype("float32")
            profile = before.profile
        if method == "broken":
            raise RuntimeError("no model")
        profile.update(count=1, dtype="float32", nodata=None)
        with rasterio.open(destination, "w", **profile) as out:
            out.write(probability, 1)
        return {"method": method}

    monkeypatch.setitem(sys.modules, "candela.change.changedetect", types.SimpleNamespace(detect=detect))
    result = harness.evaluate(root, methods=["raw", "broken"], workdir=tmp_path, cities=[SMALL],
                              baselines=["zcva"])
    assert calls == [("raw", None), ("broken", None)]
    got, expected = result["methods"]["raw"]["cities"][SMALL], result["methods"]["zcva"]["cities"][SMALL]
    for figure in ("auroc", "ap", "block_r"):
        assert got[figure] == pytest.approx(expected[figure], abs=1e-6)
    assert got["summary"] == {"method": "raw"}
    assert "RuntimeError: no model" in result["methods"]["broken"]["errors"][SMALL]
    assert (tmp_path / "raw" / f"{SMALL}.tif").exists()
