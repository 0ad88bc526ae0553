"""Shared fixtures: where the real data lives, and skipping cleanly without it."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def shared_path(*parts):
    """A path in ../shared, or skip the test with the reason when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs ../shared/{'/'.join(parts)} (real data beside the project; absent in a user's clone)")
    return path


@pytest.fixture
def shared_data():
    """Root of the real data in ../shared/data."""
    return shared_path("data")
