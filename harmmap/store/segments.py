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
from harmmap.store.catalog import SegmentRow
from harmmap.store.workspace import SEGMENT_DIR, Workspace

PARTITION_COLUMN = "partition_key"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_segment(ws: Workspace, table: pa.Table, stem: str) -> str:
    """Write ``table`` (INCIDENT_SCHEMA plus ``partition_key``) durably; return its path relative to the workspace."""
    table = conform_incidents(table).append_column(PARTITION_COLUMN, table[PARTITION_COLUMN])
    name = f"{stem}-{uuid.uuid4().hex[:12]}.parquet"
    final = ws.segment_dir / name
    temp = ws.segment_dir / f".tmp-{name}"
    pq.write_table(table, temp, compression="snappy", row_group_size=1_000_000)
    with open(temp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temp, final)
    _fsync_dir(ws.segment_dir)
    return f"{SEGMENT_DIR}/{name}"


def read_segments(ws: Workspace, segments: Sequence[SegmentRow], columns: Sequence[str] | None = None) -> pa.Table:
    """Read the given segments (columnar, only ``columns``) and concatenate them.

    A Parquet file holds every partition of one ingested file; it is read whole
    when all its partitions are asked for, else filtered on ``partition_key``.
    """
    wanted = list(columns) if columns is not None else INCIDENT_SCHEMA.names
    schema = pa.schema([INCIDENT_SCHEMA.field(c) for c in wanted])
    by_path: dict[str, list[SegmentRow]] = {}
    for segment in segments:
        by_path.setdefault(segment.path, []).append(segment)
    tables = []
    for path, group in by_path.items():
        keys = [s.partition_key for s in group]
        filters = None if len(keys) == group[0].file_partitions else [(PARTITION_COLUMN, "in", keys)]
        tables.append(pq.read_table(ws.root / path, columns=wanted, filters=filters).cast(schema))
    return pa.concat_tables(tables) if tables else schema.empty_table()


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
