"""Prepare groups of input files for the store: load, hash, read, geocode, write segments.

Small files are read and completed together: police.uk publishes one file per
force and month (a national download is ~1,500 files of a few thousand rows),
and a file's fixed cost of dozens of array operations would otherwise dwarf
its rows.  Files are taken in input order into a group until it holds about
``group_bytes`` of decompressed data; a larger file is a group on its own.
Each reader still reads its file alone, so every row keeps its own file's row
number and reason; the accepted rows of the group are then geocoded, given
ids and written as one Parquet segment file.

Nothing here writes to the catalogue: :mod:`harmmap.ingest.pipeline` commits a
prepared group (one transaction) or, if the process dies first, the segment
file is an unregistered orphan that the next ingest deletes.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from harmmap.geo.geocode import locate_points
from harmmap.ingest.identity import incidents_to_ids
from harmmap.ingest.result import ReadResult
from harmmap.ingest.sources import InputFile
from harmmap.schema import INCIDENT_SCHEMA, conform_incidents
from harmmap.store import catalog
from harmmap.store.segments import PARTITION_COLUMN, write_segment
from harmmap.store.workspace import Workspace, connect

Reader = Callable[[bytes, str], ReadResult]
GROUP_BYTES = 32 << 20  #: decompressed bytes of input per group (a bigger file is a group on its own)
GROUP_FILES = 400  #: at most this many files per group (bounds one commit)


@dataclass(frozen=True)
class Partition:
    """The rows of one file in one partition (what a later vintage replaces)."""

    key: str
    rows: int
    month_min: str | None
    month_max: str | None


@dataclass(frozen=True)
class PreparedFile:
    """One input file after reading: its id, result, partitions and segment file."""

    item: InputFile
    sha256: str
    size_bytes: int
    file_id: int | None  # None for a duplicate
    result: ReadResult | None  # None for a duplicate
    partitions: tuple[Partition, ...] = ()
    path: str | None = None  # segment file holding its rows (None when it has none)
    duplicate_of: str | None = None


@dataclass(frozen=True)
class PreparedGroup:
    """Files read together; ``table`` holds all their accepted rows (INCIDENT_SCHEMA + partition_key)."""

    files: tuple[PreparedFile, ...]
    table: pa.Table

    def rows_of(self, file_id: int, key: str | None = None) -> pa.Table:
        """The stored rows of one file (and partition)."""
        mask = pc.equal(self.table["file_id"], file_id)
        if key is not None:
            mask = pc.and_(mask, pc.equal(self.table[PARTITION_COLUMN].cast(pa.string()), key))
        return self.table.filter(mask)


@dataclass
class _Loaded:
    item: InputFile
    data: bytes
    sha256: str


class IdCounter:
    """Hands out file ids in input order (the ingest holds the workspace write lock)."""

    def __init__(self, first: int) -> None:
        self.next = first

    def take(self) -> int:
        value, self.next = self.next, self.next + 1
        return value


def take_group(ws: Workspace, inputs: Iterator[InputFile], seen: dict[str, str], group_bytes: int,
               ) -> tuple[list[_Loaded | PreparedFile], bool]:
    """Load files from ``inputs`` until the group is full; return it and whether inputs remain.

    A file whose content is already in the workspace, or was met earlier in this
    run, comes back as a duplicate :class:`PreparedFile` (never read).
    """
    group: list[_Loaded | PreparedFile] = []
    size = 0
    with contextlib.closing(connect(ws)) as conn:
        for item in inputs:
            data = item.load()
            sha = hashlib.sha256(data).hexdigest()
            known = catalog.find_file(conn, sha)
            if known or sha in seen:
                note = f"{known[1]} (ingested {known[2]})" if known else f"{seen[sha]} (this run)"
                group.append(PreparedFile(item, sha, len(data), None, None, duplicate_of=note))
                continue
            seen[sha] = item.name
            group.append(_Loaded(item, data, sha))
            size += len(data)
            if size >= group_bytes or len(group) >= GROUP_FILES:
                return group, True
    return group, False


def prepare_group(ws: Workspace, source: str, group: list[_Loaded | PreparedFile], reader: Reader,
                  resolution: int, ids: IdCounter) -> PreparedGroup:
    """Read, validate and geocode a group of loaded files and write their segment file(s)."""
    files: list[PreparedFile] = []
    tables: list[pa.Table] = []
    for entry in group:
        if isinstance(entry, PreparedFile):
            files.append(entry)
            continue
        result = reader(entry.data, entry.item.name)
        file_id = ids.take()
        files.append(PreparedFile(entry.item, entry.sha256, len(entry.data), file_id, result))
        tables.append(_accepted(result, file_id, f"{source}/{entry.sha256[:16]}"))
        entry.data = b""  # free the raw bytes early
    if not tables:
        return PreparedGroup(tuple(files), _complete(_empty_accepted(), resolution))
    table = _complete(pa.concat_tables(tables, promote_options="permissive"), resolution)
    return PreparedGroup(tuple(_with_segments(ws, files, table)), table)


def _accepted(result: ReadResult, file_id: int, default_key: str) -> pa.Table:
    """A reader's accepted rows as INCIDENT_SCHEMA (ids, cells still empty) + file id + partition key."""
    data = result.incidents
    table = data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)
    n = table.num_rows
    keys = table[PARTITION_COLUMN] if PARTITION_COLUMN in table.column_names else pa.nulls(n, pa.string())
    if keys.null_count or not pa.types.is_dictionary(keys.type):
        keys = pc.dictionary_encode(pc.fill_null(keys.cast(pa.string()), default_key))
    table = _add_missing(table, n, file_id)
    return conform_incidents(table).append_column(PARTITION_COLUMN, keys)


def _add_missing(table: pa.Table, n: int, file_id: int) -> pa.Table:
    zeros = pa.array(np.zeros(n, dtype="int64"))
    for name, value in (("cell", pa.array(np.zeros(n, dtype="uint64"))), ("incident_id", zeros),
                        ("file_id", pa.array(np.full(n, file_id, dtype="int64")))):
        if name in table.column_names:
            table = table.set_column(table.schema.get_field_index(name), name, value)
        else:
            table = table.append_column(name, value)
    return table


def _empty_accepted() -> pa.Table:
    return INCIDENT_SCHEMA.empty_table().append_column(
        PARTITION_COLUMN, pa.array([], pa.dictionary(pa.int32(), pa.string())))


def _complete(table: pa.Table, resolution: int) -> pa.Table:
    """Fill grid coordinates, H3 cells and incident ids (ordinals of identical rows counted per file)."""
    n = table.num_rows
    located = locate_points(table["lat"].to_numpy(), table["lng"].to_numpy(), resolution,
                            table["easting"].to_numpy() if n else None, table["northing"].to_numpy() if n else None)
    for name, values in (("easting", pa.array(located.easting)), ("northing", pa.array(located.northing)),
                         ("cell", pa.array(located.cell, pa.uint64()))):
        table = table.set_column(table.schema.get_field_index(name), name, values)
    file_ids = table["file_id"].to_numpy() if n else np.zeros(0, dtype="int64")
    ids = incidents_to_ids(table, within=file_ids)
    return table.set_column(table.schema.get_field_index("incident_id"), "incident_id", pa.array(ids, pa.int64()))


def _partition_stats(table: pa.Table) -> dict[int, list[Partition]]:
    """Rows and month range of each (file, partition), in order of first appearance."""
    if table.num_rows == 0:
        return {}
    keys = pa.table([table[PARTITION_COLUMN]], names=["k"]).unify_dictionaries()["k"].combine_chunks()
    frame = pd.DataFrame({"file_id": table["file_id"].to_numpy(),
                          "code": keys.indices.to_numpy(zero_copy_only=False),
                          "day": table["month"].cast(pa.int32()).to_numpy()})
    stats = frame.groupby(["file_id", "code"], sort=False)["day"].agg(["size", "min", "max"])
    names = keys.dictionary.to_pylist()
    out: dict[int, list[Partition]] = {}
    for (file_id, code), size, low, high in zip(stats.index, stats["size"], stats["min"], stats["max"]):
        out.setdefault(int(file_id), []).append(Partition(names[code], int(size), _month(low), _month(high)))
    return out


def _month(day: int) -> str:
    return str(np.datetime64(int(day), "D"))[:7]


def _with_segments(ws: Workspace, files: list[PreparedFile], table: pa.Table) -> list[PreparedFile]:
    """Write the group's rows as segment file(s); a partition met twice in the group splits the file.

    Two files of the same (force, month) in one group (an older and a newer
    vintage named together) must not share a segment file: readers select a
    file's partition by ``partition_key`` alone.
    """
    stats = _partition_stats(table)
    runs, current, keys_in_run = [], [], set()
    for f in files:
        parts = stats.get(f.file_id, []) if f.file_id is not None else []
        if any(p.key in keys_in_run for p in parts):
            runs.append(current)
            current, keys_in_run = [], set()
        current.append(f)
        keys_in_run.update(p.key for p in parts)
    runs.append(current)
    done: list[PreparedFile] = []
    for run in runs:
        ids = [f.file_id for f in run if f.file_id is not None and stats.get(f.file_id)]
        path = None
        if ids:
            rows = table if len(runs) == 1 else table.filter(pc.is_in(table["file_id"], pa.array(ids, pa.int64())))
            path = write_segment(ws, rows, f"f{ids[0]}")
        done += [f if f.file_id is None else
                 PreparedFile(f.item, f.sha256, f.size_bytes, f.file_id, f.result,
                              tuple(stats.get(f.file_id, [])), path if stats.get(f.file_id) else None)
                 for f in run]
    return done
