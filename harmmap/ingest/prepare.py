"""Prepare groups of input files for the store: read, validate, geocode, write segments.

Small files are read and completed together (groups: :mod:`harmmap.ingest.groups`):
police.uk publishes one file per force and month (a national download is
~1,500 files of a few thousand rows), and a file's fixed cost of dozens of
array operations would otherwise dwarf its rows.  Each reader still reads its file alone, so every row keeps its own file's row
number and reason; the accepted rows of the group are then geocoded, given
ids and written as one Parquet segment file.

A big file read by a format that can be cut (police.uk CSV, see
:class:`harmmap.ingest.result.PieceReader`) goes through in pieces of about
``PIECE_BYTES``, two at a time: each piece is read, validated and geocoded on
its own and written as its own Parquet file, so memory stays bounded by the
pieces in flight and both cores work.  Incident ids need the whole file (the
ordinal of identical rows is counted over the file), so the 64-bit identity
keys of every piece are collected first and the ids given before writing.

Nothing here writes to the catalogue: :mod:`harmmap.ingest.pipeline` commits a
prepared group (one transaction) or, if the process dies first, the segment
file is an unregistered orphan that the next ingest deletes.
"""

from __future__ import annotations

import contextlib
import re
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from harmmap.geo.geocode import locate_points
from harmmap.ingest import groups
from harmmap.ingest.groups import Loaded, Partition, PreparedFile, PreparedGroup, duplicate_entry
from harmmap.ingest.identity import incidents_to_ids, incidents_to_keys, keys_to_ids, refs_to_keys
from harmmap.ingest.result import PieceReader, ReadResult
from harmmap.schema import INCIDENT_SCHEMA, conform_incidents
from harmmap.store.segments import PARTITION_COLUMN, write_segment
from harmmap.store.workspace import Workspace, connect

Reader = Callable[[bytes, str], ReadResult]


def prepare_group(ws: Workspace, source: str, group: list[Loaded | PreparedFile], reader: Reader,
                  resolution: int, pieces: PieceReader | None = None,
                  seen: dict[str, str] | None = None) -> PreparedGroup:
    """Read, validate and geocode a group of loaded files and write their segment file(s)."""
    loaded = [entry for entry in group if isinstance(entry, Loaded)]
    if len(loaded) == 1 and isinstance(loaded[0].sha256, Future):  # a big file alone
        big = loaded[0]
        prepared = _prepare_pieces(ws, source, big, pieces, resolution, seen) if pieces else None
        if prepared is not None:
            return prepared
        big.sha256 = big.sha256.result()
        with contextlib.closing(connect(ws)) as conn:
            duplicate = duplicate_entry(conn, big.item, big.data, big.sha256, {} if seen is None else seen)
        if duplicate is not None:
            return PreparedGroup((duplicate,), _complete(_empty_accepted(), resolution))
    files: list[PreparedFile] = []
    tables: list[pa.Table] = []
    if pieces is not None and pieces.read_many is not None:  # validated together: one pass, not one per file
        read = pieces.read_many([(entry.data, entry.item.name) for entry in loaded])
    else:
        with ThreadPoolExecutor(max_workers=2) as pool:  # parsing releases the GIL: two files at a time
            read = list(pool.map(lambda entry: reader(entry.data, entry.item.name), loaded))
    results = dict(zip(map(id, loaded), read))
    for entry in group:
        if isinstance(entry, PreparedFile):
            files.append(entry)
            continue
        result = results[id(entry)]
        file_id = entry.file_id
        files.append(PreparedFile(entry.item, entry.sha256, len(entry.data), file_id, result))
        tables.append(_accepted(result, file_id, f"{source}/{entry.sha256[:16]}"))
        entry.data = b""  # free the raw bytes early
    if not tables:
        return PreparedGroup(tuple(files), _complete(_empty_accepted(), resolution))
    table = _complete(pa.concat_tables(tables, promote_options="permissive"), resolution)
    return PreparedGroup(tuple(_with_segments(ws, files, table)), table)


def _prepare_pieces(ws: Workspace, source: str, entry: Loaded, pieces: PieceReader, resolution: int,
                    seen: dict[str, str] | None) -> PreparedGroup | None:
    """Read one big file in pieces, two at a time; None if it cannot be cut cleanly.

    The file's content hash is computed meanwhile; a duplicate is reported
    before anything is written.
    """
    name, data = entry.item.name, entry.data
    default_key = f"{source}/{id(entry):x}-pending"  # rows without a partition: renamed once the hash is known
    spans = pieces.split(data, groups.PIECE_BYTES)

    def read(span) -> tuple[object, pa.Table, np.ndarray]:
        piece = pieces.read(data, name, span)
        table = _located(_accepted(piece.result, file_id, default_key), resolution)
        return piece, table, incidents_to_keys(table)

    file_id = entry.file_id
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = list(pool.map(read, spans))
        if not pieces.cut_cleanly(data, [piece for piece, _, _ in done]):
            return None
        entry.sha256 = entry.sha256.result()
        with contextlib.closing(connect(ws)) as conn:
            duplicate = duplicate_entry(conn, entry.item, data, entry.sha256, {} if seen is None else seen)
        if duplicate is not None:
            return PreparedGroup((duplicate,), _complete(_empty_accepted(), resolution))
        tables = [_rename_partition(table, default_key, f"{source}/{entry.sha256[:16]}") for _, table, _ in done]
        tables = _number_rows([piece.result for piece, _, _ in done], tables)
        tables = _with_ids(tables, np.concatenate([keys for _, _, keys in done]))
        paths = list(pool.map(lambda table: write_segment(ws, table, f"f{file_id}"), tables))
    result = _merged_result([piece.result for piece, _, _ in done], tables)
    parts = tuple(p for table, path in zip(tables, paths) for p in _partition_stats(table, path).get(file_id, []))
    entry.data = b""
    prepared = PreparedFile(entry.item, entry.sha256, len(data), file_id, result, parts)
    return PreparedGroup((prepared,), pa.concat_tables(tables))


def _rename_partition(table: pa.Table, old: str, new: str) -> pa.Table:
    """Rename one partition key (dictionary values only)."""
    column = table[PARTITION_COLUMN]
    chunks = [pa.DictionaryArray.from_arrays(chunk.indices, pc.if_else(pc.equal(chunk.dictionary, old), new,
                                                                        chunk.dictionary))
              for chunk in column.chunks]
    return table.set_column(table.schema.get_field_index(PARTITION_COLUMN), PARTITION_COLUMN,
                            pa.chunked_array(chunks, column.type))


def _number_rows(results: list[ReadResult], tables: list[pa.Table]) -> list[pa.Table]:
    """Row numbers of each piece continue from the rows of the pieces before it."""
    out, offset = [], 0
    for result, table in zip(results, tables):
        if offset:
            index = table.schema.get_field_index("row_number")
            table = table.set_column(index, "row_number", pc.add(table["row_number"], offset))
        out.append(table)
        offset += result.rows_read
    return out


def _with_ids(tables: list[pa.Table], keys: np.ndarray) -> list[pa.Table]:
    """Give ids over the whole file (ordinals of identical rows counted across pieces)."""
    ids, out, start = keys_to_ids(keys), [], 0
    for table in tables:
        column = pa.array(ids[start:start + table.num_rows], pa.int64())
        out.append(table.set_column(table.schema.get_field_index("incident_id"), "incident_id", column))
        start += table.num_rows
    return out


def _merged_result(results: list[ReadResult], tables: list[pa.Table]) -> ReadResult:
    """One file's result from its pieces: rejects renumbered, notes with counts summed."""
    rejects, offset = [], 0
    for result in results:
        bad = result.rejects
        rejects.append(bad.assign(row_number=bad["row_number"] + offset) if offset and len(bad) else bad)
        offset += result.rows_read
    keys = tuple(sorted({key for result in results for key in result.partition_keys}))
    return ReadResult(pa.concat_tables(tables), pd.concat(rejects, ignore_index=True), offset, keys,
                      merge_notes([result.notes for result in results]))


def merge_notes(notes: list[tuple[str, ...]]) -> tuple[str, ...]:
    """Merge the notes of pieces: notes that differ only in a leading count are one note with the sum."""
    merged: dict[str, int | None] = {}
    for note in (n for piece in notes for n in piece):
        found = re.match(r"^(\d+) (.*)$", note, re.S)
        text, count = (found.group(2), int(found.group(1))) if found else (note, None)
        merged[text] = None if count is None else (merged.get(text) or 0) + count
    return tuple(text if count is None else f"{count} {text}" for text, count in merged.items())


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
    refs = refs_to_keys(table["source_ref"]) if n else np.zeros(0, dtype="uint64")
    for name, value in (("cell", pa.array(np.zeros(n, dtype="uint64"))), ("incident_id", zeros),
                        ("file_id", pa.array(np.full(n, file_id, dtype="int64"))), ("ref_key", pa.array(refs))):
        if name in table.column_names:
            table = table.set_column(table.schema.get_field_index(name), name, value)
        else:
            table = table.append_column(name, value)
    return table


def _empty_accepted() -> pa.Table:
    return INCIDENT_SCHEMA.empty_table().append_column(
        PARTITION_COLUMN, pa.array([], pa.dictionary(pa.int32(), pa.string())))


def _located(table: pa.Table, resolution: int) -> pa.Table:
    """Fill grid coordinates and H3 cells."""
    n = table.num_rows
    located = locate_points(table["lat"].to_numpy(), table["lng"].to_numpy(), resolution,
                            table["easting"].to_numpy() if n else None, table["northing"].to_numpy() if n else None)
    for name, values in (("easting", pa.array(located.easting)), ("northing", pa.array(located.northing)),
                         ("cell", pa.array(located.cell, pa.uint64()))):
        table = table.set_column(table.schema.get_field_index(name), name, values)
    return table


def _complete(table: pa.Table, resolution: int) -> pa.Table:
    """Fill grid coordinates, H3 cells and incident ids (ordinals of identical rows counted per file)."""
    table = _located(table, resolution)
    file_ids = table["file_id"].to_numpy() if table.num_rows else np.zeros(0, dtype="int64")
    ids = incidents_to_ids(table, within=file_ids)
    return table.set_column(table.schema.get_field_index("incident_id"), "incident_id", pa.array(ids, pa.int64()))


def _partition_stats(table: pa.Table, path: str) -> dict[int, list[Partition]]:
    """Rows and month range of each (file, partition) stored in ``path``, in order of first appearance."""
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
        out.setdefault(int(file_id), []).append(Partition(names[code], int(size), _month(low), _month(high), path))
    return out


def _month(day: int) -> str:
    return str(np.datetime64(int(day), "D"))[:7]


def _with_segments(ws: Workspace, files: list[PreparedFile], table: pa.Table) -> list[PreparedFile]:
    """Write the group's rows as segment file(s); a partition met twice in the group splits the file.

    Two files of the same (force, month) in one group (an older and a newer
    vintage named together) must not share a segment file: readers select a
    file's partition by ``partition_key`` alone.
    """
    stats = _partition_stats(table, "")
    runs, current, keys_in_run = [], [], set()
    for f in files:
        keys = {p.key for p in stats.get(f.file_id, [])} if f.file_id is not None else set()
        if keys & keys_in_run:
            runs.append(current)
            current, keys_in_run = [], set()
        current.append(f)
        keys_in_run |= keys
    runs.append(current)
    done: list[PreparedFile] = []
    for run in runs:
        ids = [f.file_id for f in run if f.file_id is not None and stats.get(f.file_id)]
        path = ""
        if ids:
            rows = table if len(runs) == 1 else table.filter(pc.is_in(table["file_id"], pa.array(ids, pa.int64())))
            path = write_segment(ws, rows, f"f{ids[0]}")
        done += [f if f.file_id is None else
                 PreparedFile(f.item, f.sha256, f.size_bytes, f.file_id, f.result,
                              tuple(Partition(p.key, p.rows, p.month_min, p.month_max, path)
                                    for p in stats.get(f.file_id, [])))
                 for f in run]
    return done
