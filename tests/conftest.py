"""Shared fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ``../shared/data``: fails in CI when missing, skips elsewhere."""
    if SHARED_DATA.is_dir():
        return SHARED_DATA
    if os.environ.get("CI"):
        pytest.fail(f"shared data missing at {SHARED_DATA}; CI must have ../shared/data beside the repo")
    pytest.skip(f"shared data not found at {SHARED_DATA}")
