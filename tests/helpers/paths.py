"""Where things are: the project, and the real data in ../shared (skipping cleanly without it)."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
#: The real Sentinel-1 GRD product in ../shared (its ``measurement/`` folder is empty).
SENTINEL1_NAME = "S1A_IW_GRDH_1SDV_20210119T031653_20210119T031718_036201_043ED0_8255"


def shared_path(*parts):
    """A path in ../shared, or skip the test with the reason when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs ../shared/{'/'.join(parts)} (beside the project in CI; absent in a user's clone)")
    return path


def sentinel1_zip():
    """The real zipped Sentinel-1 GRD product, or skip."""
    return shared_path("data", "sentinel1", SENTINEL1_NAME + ".zip")
