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


def leicestershire_grid(shared_data: Path, months: int, rings: int = 2):
    """Real police.uk counts per res-9 cell on a zero-filled grid (cells with data + ``rings`` rings).

    Returns ``(cells, values)`` for the first ``months`` Leicestershire files.
    """
    import numpy as np
    import pandas as pd

    from harmmap.geo.cells import points_to_cells
    from harmmap.geo.grid import buffer_cells

    files = sorted((shared_data / "police_uk" / "leicestershire").glob("*-street.csv*"))[:months]
    rows = pd.concat([pd.read_csv(f, usecols=["Latitude", "Longitude"]) for f in files]).dropna()
    cells_with_data, counts = np.unique(
        points_to_cells(rows["Latitude"].to_numpy(), rows["Longitude"].to_numpy(), 9), return_counts=True)
    cells = buffer_cells(cells_with_data, rings)
    values = np.zeros(cells.size)
    values[np.searchsorted(cells, cells_with_data)] = counts
    return cells, values


@pytest.fixture(scope="session")
def simulated_workspace(tmp_path_factory):
    """A workspace of 24 simulated months (2022-01..2023-12, 5,000 police.uk incidents a month, planted
    hotspots, one retailer), built once per session; tests must not write to it except to save runs."""
    from harmmap.cli.demo import build_demo
    from harmmap.store.workspace import open_workspace

    root = tmp_path_factory.mktemp("simulated") / "ws"
    build_demo(str(root), seed=7, months=24, per_month=5_000, echo=lambda *_: None, show=lambda _: None)
    return open_workspace(root)
