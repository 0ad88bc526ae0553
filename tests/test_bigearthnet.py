"""BigEarthNet-MM patches (../shared/data/bigearthnet): pairing, and the stacks written from them."""

import json
from datetime import datetime, timezone

import numpy as np
import pytest
import rasterio

from candela.datasets import bigearthnet
from candela.errors import InputError
from candela.rasters.dating import acquisition_time

from helpers.paths import shared_path

pytestmark = pytest.mark.shared

#: A few pixels (row, col) to compare with the band files, corners included.
PIXELS = ((0, 0), (0, 119), (37, 64), (64, 37), (101, 5), (119, 119))


@pytest.fixture(scope="module")
def root():
    return shared_path("data", "bigearthnet")


@pytest.fixture(scope="module")
def written(root, tmp_path_factory):
    """Every patch written: [(patch, optical path, sar path)]."""
    destination = tmp_path_factory.mktemp("bigearthnet")
    return [(patch, *bigearthnet.write_patch(patch.s2_folder, patch.s1_folder, destination))
            for patch in bigearthnet.patches(root)]


def _band(folder, band):
    with rasterio.open(folder / f"{folder.name}_{band}.tif") as dataset:
        return dataset.read(1)


def test_all_six_patches_pair(root):
    pairs = bigearthnet.patches(root)
    assert len(pairs) == 6
    for patch in pairs:
        s1_metadata = json.loads((patch.s1_folder / f"{patch.s1_folder.name}_labels_metadata.json").read_text())
        assert s1_metadata["corresponding_s2_patch"] == patch.s2_folder.name
        assert patch.labels == tuple(s1_metadata["labels"]) and patch.labels
    # Patch 69_24: S2 on 24 September (a malformed time, T93020), S1 the next day.
    late = next(p for p in pairs if p.s2_folder.name.endswith("_69_24"))
    assert late.s1_folder.name == "S1A_IW_GRDH_1SDV_20170925T043256_35VPK_69_24"
    assert late.labels[-1] == "Water bodies"


def test_optical_stack(written):
    for patch, optical, _ in written:
        with rasterio.open(optical) as dataset, \
                rasterio.open(patch.s2_folder / f"{patch.s2_folder.name}_B02.tif") as reference:
            assert dataset.descriptions == bigearthnet.BANDS
            assert dataset.dtypes == ("uint16",) * 10 and dataset.nodata == 0
            assert dataset.res == (10, 10) and (dataset.width, dataset.height) == (120, 120)
            assert dataset.crs == reference.crs and dataset.transform == reference.transform
            stack = dataset.read()
        for index, band in enumerate(bigearthnet.BANDS):
            source = _band(patch.s2_folder, band)
            step = 120 // source.shape[0]  # 1 for 10 m bands, 2 for 20 m ones
            assert step in (1, 2) and (step == 2) == (band in ("B05", "B06", "B07", "B8A", "B11", "B12"))
            for row, col in PIXELS:
                assert stack[index, row, col] == source[row // step, col // step], (patch.s2_folder.name, band)
            if step == 2:  # nearest neighbour: each 20 m value fills its 2 x 2 pixels exactly
                assert np.array_equal(stack[index], np.repeat(np.repeat(source, 2, 0), 2, 1))


def test_radar_stack(written):
    for patch, _, sar in written:
        with rasterio.open(sar) as dataset:
            assert dataset.descriptions == ("VV", "VH")
            assert dataset.dtypes == ("float32", "float32") and np.isnan(dataset.nodata)
            assert dataset.tags()["UNITS"] == "dB"
            assert dataset.res == (10, 10) and (dataset.width, dataset.height) == (120, 120)
            values = dataset.read()
        for index, band in enumerate(("VV", "VH")):
            assert np.array_equal(values[index], _band(patch.s1_folder, band))
        assert np.median(values[1]) < np.median(values[0]) < 0  # dB: VH under VV


def test_dates(written):
    times = {p.s2_folder.name[-5:]: (acquisition_time(o), acquisition_time(s)) for p, o, s in written}
    utc = timezone.utc
    assert times["87_48"] == (datetime(2017, 6, 13, 10, 10, 31, tzinfo=utc),
                              datetime(2017, 6, 13, 16, 50, 43, tzinfo=utc))
    # The S2 name says T94161 (not a time): the metadata's acquisition_date gives it.
    assert times["57_38"] == (datetime(2018, 2, 4, 9, 41, 56, tzinfo=utc), datetime(2018, 2, 4, 4, 32, 53, tzinfo=utc))
    assert times["69_24"][1] == datetime(2017, 9, 25, 4, 32, 56, tzinfo=utc)
    for patch, optical, sar in written:
        with rasterio.open(optical) as dataset:
            assert dataset.tags()["ACQUISITION_DATE"].endswith("Z")
        assert acquisition_time(sar) == bigearthnet.s1_time(patch.s1_folder)


def test_missing_band_and_bad_root(root, tmp_path):
    patch = bigearthnet.patches(root)[0]
    partial = tmp_path / patch.s2_folder.name
    partial.mkdir()
    for path in patch.s2_folder.glob("*"):
        if not path.name.endswith("_B11.tif"):
            (partial / path.name).write_bytes(path.read_bytes())
    with pytest.raises(InputError, match="no band B11"):
        bigearthnet.write_patch(partial, patch.s1_folder, tmp_path / "out")
    with pytest.raises(InputError, match="BigEarthNet root"):
        bigearthnet.patches(tmp_path)
