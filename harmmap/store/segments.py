"""Immutable Parquet segments of accepted incidents.

A segment is written completely (temporary name, fsync, rename, fsync of the
folder) *before* the transaction that registers it commits, so a crash leaves
at most an unregistered file, which :func:`remove_orphans` deletes later.
Readers only ever open segments the catalogue lists as active.
"""

from __future__ import annotations

import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from harmmap.errors import WorkspaceError
from harmmap.ingest.identity import refs_to_keys
from harmmap.schema import INCIDENT_SCHEMA, conform_incidents
from harmmap.store.catalog import SegmentRow
from harmmap.store.workspace import SEGMENT_DIR, Workspace

PARTITION_COLUMN = "partition_key"
ROW_GROUP_ROWS = 256 * 1024
#: Columns with min/max statistics (row-group pruning on partition and month);
#: statistics of 64-hex references or coordinates cost time and prune nothing.
_STATISTICS = (PARTITION_COLUMN, "month", "file_id")


def fsync_path(path: Path) -> None:
    """fsync a file or a folder (so a rename or a new entry in it survives a power loss)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_segment(ws: Workspace, table: pa.Table, stem: str) -> str:
    """Write ``table`` (INCIDENT_SCHEMA plus ``partition_key``) durably; return its path relative to the workspace.

    Text columns that arrive dictionary-encoded (crime type, outcome, location,
    ...) get one dictionary across all the table's chunks first: the Parquet
    writer falls back to slow re-encoding when chunks bring different
    dictionaries.  Only those columns use Parquet dictionary pages.
    """
    table = conform_incidents(table).append_column(PARTITION_COLUMN, table[PARTITION_COLUMN]).unify_dictionaries()
    name = f"{stem}-{uuid.uuid4().hex[:12]}.parquet"
    final = ws.segment_dir / name
    temp = ws.segment_dir / f".tmp-{name}"
    coded = [f.name for f in table.schema if pa.types.is_dictionary(f.type)]
    pq.write_table(table, temp, compression="snappy", row_group_size=ROW_GROUP_ROWS, use_dictionary=coded,
                   write_statistics=list(_STATISTICS))
    with open(temp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temp, final)
    fsync_path(ws.segment_dir)
    return f"{SEGMENT_DIR}/{name}"


def _target_type(field: pa.Field, found: pa.DataType) -> pa.DataType:
    """The schema's type, except that dictionary-encoded text stays dictionary-encoded (cheap to read)."""
    if pa.types.is_dictionary(found) and pa.types.is_string(field.type):
        return pa.dictionary(pa.int32(), pa.string())
    return field.type


def _read_one(path: Path, wanted: list[str], keys: list[str] | None, keep: np.ndarray | None = None) -> pa.Table:
    filters = None if keys is None else [(PARTITION_COLUMN, "in", keys)]
    derive = "ref_key" in wanted and "ref_key" not in pq.read_schema(path).names  # written before schema v4
    columns = [c for c in wanted if c != "ref_key"] + ["source_ref"] if derive else wanted
    table = pq.read_table(path, columns=list(dict.fromkeys(columns)), filters=filters, use_threads=False)
    if derive:
        table = table.append_column("ref_key", pa.array(refs_to_keys(table["source_ref"]), pa.uint64()))
        table = table.select(wanted)
    if keep is not None:
        if len(keep) != table.num_rows:
            raise WorkspaceError("a segment file holds a different number of rows than the catalogue says",
                                 given=f"{path.name}: {table.num_rows} rows, catalogue {len(keep)}",
                                 fix="the workspace is damaged: restore it from a backup or re-ingest the files")
        if not keep.all():
            table = table.combine_chunks().filter(pa.array(keep))
    fields = [INCIDENT_SCHEMA.field(c) for c in wanted]
    schema = pa.schema([pa.field(f.name, _target_type(f, table.schema.field(f.name).type), f.nullable)
                        for f in fields])
    return table if table.schema == schema else table.cast(schema)


def read_segments(ws: Workspace, segments: Sequence[SegmentRow], columns: Sequence[str] | None = None,
                  keep: np.ndarray | None = None) -> pa.Table:
    """Read the given segments (columnar, only ``columns``) and concatenate them.

    A Parquet file holds every partition of one ingested file; it is read whole
    when all its partitions are asked for, else filtered on ``partition_key``.
    Files are read in parallel.  Text columns stored dictionary-encoded
    (crime type, offence, source, ...) come back dictionary-encoded (pandas
    ``Categorical``); every other column has its :data:`INCIDENT_SCHEMA` type.
    ``keep`` (one bool per row of the unfiltered result, in read order) drops
    rows while each file is read, which is much cheaper than filtering after.
    """
    wanted = list(columns) if columns is not None else INCIDENT_SCHEMA.names
    by_path: dict[str, list[SegmentRow]] = {}
    for segment in segments:
        by_path.setdefault(segment.path, []).append(segment)
    jobs, start = [], 0
    for path, group in by_path.items():
        keys = None if len(group) == group[0].file_partitions else [s.partition_key for s in group]
        size = sum(s.rows for s in group)
        jobs.append((ws.root / path, wanted, keys, None if keep is None else keep[start:start + size]))
        start += size
    if keep is not None and start != len(keep):
        raise WorkspaceError("the row mask does not match the segments", given=f"{len(keep)} vs {start} rows")
    if not jobs:
        return pa.schema([INCIDENT_SCHEMA.field(c) for c in wanted]).empty_table()
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        tables = list(pool.map(lambda job: _read_one(*job), jobs))
    return _concat(tables)


def _concat(tables: list[pa.Table]) -> pa.Table:
    """Concatenate tables whose text columns are dictionary-encoded in some files and plain in others."""
    first = tables[0].schema
    if all(t.schema == first for t in tables):
        return pa.concat_tables(tables)
    coded = {name for t in tables for name, kind in zip(t.schema.names, t.schema.types) if pa.types.is_dictionary(kind)}
    unified = []
    for table in tables:
        for name in coded:
            column = table[name]
            if not pa.types.is_dictionary(column.type):
                index = table.schema.get_field_index(name)
                table = table.set_column(index, name, pc.dictionary_encode(column))
        unified.append(table)
    return pa.concat_tables(unified, promote_options="permissive")


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
    """Convert an incident table to pandas: dates as datetime64, flags as nullable ``boolean``, codes as categoricals."""
    return table.to_pandas(date_as_object=False, timestamp_as_object=False,
                           types_mapper={pa.bool_(): pd.BooleanDtype()}.get)
