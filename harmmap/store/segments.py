"""Immutable Parquet segments of accepted incidents.

A segment is written completely (temporary name, fsync, rename, fsync of the
folder) *before* the transaction that registers it commits, so a crash leaves
at most an unregistered file, which :func:`remove_orphans` deletes later.
Readers only ever open segments the catalogue lists as active.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from harmmap.schema import INCIDENT_SCHEMA, conform_incidents
from harmmap.store.workspace import SEGMENT_DIR, Workspace


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_segment(ws: Workspace, table: pa.Table, stem: str) -> str:
    """Write ``table`` (INCIDENT_SCHEMA) durably and return its path relative to the workspace."""
    table = conform_incidents(table)
    name = f"{stem}-{uuid.uuid4().hex[:12]}.parquet"
    final = ws.segment_dir / name
    temp = ws.segment_dir / f".tmp-{name}"
    pq.write_table(table, temp, compression="snappy", row_group_size=1_000_000)
    with open(temp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temp, final)
    _fsync_dir(ws.segment_dir)
    return f"{SEGMENT_DIR}/{name}"


def read_segments(ws: Workspace, paths: Sequence[str], columns: Sequence[str] | None = None) -> pa.Table:
    """Read and concatenate segments (columnar, multi-threaded)."""
    wanted = list(columns) if columns is not None else INCIDENT_SCHEMA.names
    schema = pa.schema([INCIDENT_SCHEMA.field(c) for c in wanted])
    if not paths:
        return schema.empty_table()
    return pa.concat_tables([pq.read_table(ws.root / p, columns=wanted).cast(schema) for p in paths])


def remove_files(ws: Workspace, paths: Iterable[str]) -> None:
    """Delete segment files that are no longer registered (missing files are fine)."""
    for rel in paths:
        (ws.root / rel).unlink(missing_ok=True)


def remove_orphans(ws: Workspace, registered: set[str]) -> list[str]:
    """Delete segment files the catalogue does not list (left by a crash); return them.

    Call only while holding the workspace write lock.
    """
    removed = []
    for path in ws.segment_dir.glob("*.parquet"):
        rel = f"{SEGMENT_DIR}/{path.name}"
        if rel not in registered:
            path.unlink(missing_ok=True)
            removed.append(rel)
    for path in ws.segment_dir.glob(".tmp-*"):
        path.unlink(missing_ok=True)
        removed.append(f"{SEGMENT_DIR}/{path.name}")
    return removed


def table_to_frame(table: pa.Table) -> pd.DataFrame:
    """Convert an incident table to pandas with numpy-friendly dtypes (dates as datetime64)."""
    return table.to_pandas(date_as_object=False, timestamp_as_object=False)
