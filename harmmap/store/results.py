"""Persist scoring results in the workspace and read them back.

A run is written to ``results/.tmp-<run_id>/`` (three Parquet files and
``metadata.json``), every file fsynced, the folder renamed to
``results/<run_id>/`` and only then registered in ``scoring_runs`` in one
transaction.  A crash at any point leaves either no row (and an orphan folder
the next writer deletes) or a complete, readable run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Protocol

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from harmmap.errors import WorkspaceError
from harmmap.store.segments import fsync_path
from harmmap.store.workspace import Workspace, connect, now_utc, transaction, write_lock

RESULTS_DIR = "results"
_TABLES = ("cells", "places", "periods", "crime_types")  # crime_types: optional (runs before it, trends runs)


class Result(Protocol):
    """What is persisted: a scoring or trends result (the store does not import scoring).

    ``metadata["kind"]`` tells them apart (absent: a scoring run).
    """

    cells: pd.DataFrame
    places: pd.DataFrame
    periods: pd.DataFrame
    metadata: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class RunRow:
    """One registered scoring run (without its tables)."""

    run_id: str
    created_at: str
    path: str
    settings: Mapping[str, Any]
    metadata: Mapping[str, Any]
    cells: int
    places: int
    incidents: int
    total_harm: float


def _new_run_id() -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{uuid.uuid4().hex[:6]}"


def _write_tables(folder: Path, result: Result) -> None:
    folder.mkdir(parents=True)
    for name in _TABLES:
        frame: pd.DataFrame | None = getattr(result, name, None)
        if frame is None:
            continue
        table = pa.Table.from_pandas(frame, preserve_index=False)
        pq.write_table(table, folder / f"{name}.parquet", compression="zstd")
    (folder / "metadata.json").write_text(json.dumps(result.metadata, indent=1, sort_keys=True), encoding="utf-8")
    for entry in folder.iterdir():
        fsync_path(entry)
    fsync_path(folder)


def remove_result_orphans(ws: Workspace, registered: set[str]) -> list[str]:
    """Delete result folders no run row lists (left by a crash); call under the write lock."""
    base = ws.root / RESULTS_DIR
    removed = []
    if not base.is_dir():
        return removed
    for entry in base.iterdir():
        rel = f"{RESULTS_DIR}/{entry.name}"
        if entry.is_dir() and rel not in registered:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(rel)
    return removed


def save_result(ws: Workspace, result: Result, settings: Mapping[str, Any]) -> str:
    """Write ``result`` durably and register it; return its run id."""
    run_id = _new_run_id()
    base = ws.root / RESULTS_DIR
    if not base.is_dir():
        base.mkdir()
        fsync_path(ws.root)
    temp, final = base / f".tmp-{run_id}", base / run_id
    totals = result.metadata.get("totals", {})
    with write_lock(ws), contextlib.closing(connect(ws)) as conn:
        registered = {row[0] for row in conn.execute("SELECT path FROM scoring_runs")}
        remove_result_orphans(ws, registered)
        _write_tables(temp, result)
        os.replace(temp, final)
        fsync_path(base)
        with transaction(conn):
            conn.execute(
                "INSERT INTO scoring_runs(run_id, created_at, path, settings, metadata, cells, places, incidents,"
                " total_harm) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, now_utc(), f"{RESULTS_DIR}/{run_id}", json.dumps(dict(settings), sort_keys=True),
                 json.dumps(result.metadata, sort_keys=True), len(result.cells), len(result.places),
                 int(totals.get("incidents", 0)), float(totals.get("harm", 0.0))),
            )
    return run_id


def _row(values: tuple) -> RunRow:
    run_id, created_at, path, settings, metadata, cells, places, incidents, total_harm = values
    return RunRow(run_id, created_at, path, json.loads(settings), json.loads(metadata), cells, places,
                  incidents, total_harm)


def run_kind(run: RunRow) -> str:
    """``"scoring"`` or ``"trends"`` (runs saved before kinds existed are scoring runs)."""
    return str(run.metadata.get("kind", "scoring"))


def list_runs(ws: Workspace, kind: str | None = None) -> list[RunRow]:
    """Return the registered runs (of one ``kind`` when given), newest first."""
    with contextlib.closing(connect(ws)) as conn:
        rows = conn.execute("SELECT run_id, created_at, path, settings, metadata, cells, places, incidents,"
                            " total_harm FROM scoring_runs ORDER BY rowid DESC").fetchall()
    runs = [_row(r) for r in rows]
    return runs if kind is None else [run for run in runs if run_kind(run) == kind]


_MAKE = {"scoring": "harmmap score", "trends": "harmmap trends"}


def find_run(ws: Workspace, run_id: str | None = None, kind: str = "scoring") -> RunRow:
    """Return one run of ``kind`` (the latest when ``run_id`` is None) or raise WorkspaceError."""
    runs = list_runs(ws, kind)
    if not runs:
        raise WorkspaceError(f"this workspace has no {kind} run yet", given=str(ws.root),
                             fix=f"run `{_MAKE.get(kind, 'harmmap score')}` first")
    if run_id is None:
        return runs[0]
    for run in runs:
        if run.run_id == run_id:
            return run
    raise WorkspaceError(f"no {kind} run with this id", given=run_id,
                         fix=f"use one of: {', '.join(r.run_id for r in runs[:5])}")


def load_result(ws: Workspace, run_id: str | None = None, tables: tuple[str, ...] = _TABLES[:3],
                kind: str = "scoring") -> tuple[RunRow, dict[str, pd.DataFrame]]:
    """Return a run's row and the requested tables (``cells``, ``places``, ``periods``)."""
    run = find_run(ws, run_id, kind)
    folder = ws.root / run.path
    frames = {}
    for name in tables:
        if name not in _TABLES:
            raise WorkspaceError("unknown result table", given=name, fix=f"use one of {list(_TABLES)}")
        path = folder / f"{name}.parquet"
        frames[name] = pq.read_table(path).to_pandas() if path.exists() or name != "crime_types" else pd.DataFrame()
    return run, frames
