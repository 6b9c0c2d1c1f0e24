"""Ingest files into a workspace: read, validate, geocode, store durably, report.

Each file is stored in one transaction: its row in ``files``, its rejects, its
new segments and the deactivation of the segments it replaces commit together
or not at all.  A file whose content hash is already known adds nothing.
police.uk partitions (force, month) are replaced by a later-loaded file of the
same partition: police.uk re-publishes months with updated outcomes.
"""

from __future__ import annotations

import contextlib
import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from harmmap.geo.geocode import locate_points
from harmmap.ingest.identity import incidents_to_ids
from harmmap.ingest.result import ReadResult
from harmmap.ingest.sources import InputFile
from harmmap.schema import RETAILER_PREFIX, SOURCE_POLICE_UK, conform_incidents
from harmmap.store import catalog
from harmmap.store.counting import counted_mask
from harmmap.store.incidents import count_rules
from harmmap.store.segments import read_segments, remove_files, remove_orphans, write_segment
from harmmap.store.workspace import Workspace, connect, transaction, workspace_resolution, write_lock

Reader = Callable[[bytes, str], ReadResult]


@dataclass(frozen=True)
class Replacement:
    """A partition replaced by a newer vintage, and what changed."""

    partition_key: str
    old_file: str
    rows_before: int
    rows_after: int
    added: int
    removed: int
    outcome_changed: int


@dataclass(frozen=True)
class FileSummary:
    """What happened to one input file."""

    name: str
    sha256: str
    status: str  # 'ingested' | 'duplicate'
    rows_read: int = 0
    accepted: int = 0
    rejected: int = 0
    rejected_by_reason: dict = field(default_factory=dict)
    replaced: tuple[Replacement, ...] = ()
    linked: int = 0
    updated: int = 0
    duplicate_of: str | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class IngestReport:
    """Totals over the files of one ingest run; rows_read = accepted + rejected."""

    files: tuple[FileSummary, ...]

    def to_dict(self) -> dict:
        """Return the machine-readable summary printed by ``--json``."""
        done = [f for f in self.files if f.status == "ingested"]
        reasons: dict[str, int] = {}
        for f in done:
            for reason, count in f.rejected_by_reason.items():
                reasons[reason] = reasons.get(reason, 0) + count
        return {
            "files": [asdict(f) for f in self.files],
            "files_ingested": len(done),
            "rows_read": sum(f.rows_read for f in done),
            "accepted": sum(f.accepted for f in done),
            "rejected": sum(f.rejected for f in done),
            "rejected_by_reason": dict(sorted(reasons.items())),
            "duplicates_skipped": sum(f.status == "duplicate" for f in self.files),
            "replaced": [asdict(r) | {"file": f.name} for f in done for r in f.replaced],
            "linked": sum(f.linked for f in done),
            "updated": sum(f.updated for f in done),
        }


def _complete(result: ReadResult, resolution: int) -> pa.Table:
    """Turn a reader's accepted rows into an INCIDENT_SCHEMA table plus ``partition_key``."""
    data = result.incidents
    table = data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)
    n = table.num_rows
    located = locate_points(
        table["lat"].to_numpy(), table["lng"].to_numpy(), resolution,
        table["easting"].to_numpy() if n else None, table["northing"].to_numpy() if n else None,
    )
    table = (table.set_column(table.schema.get_field_index("easting"), "easting", pa.array(located.easting))
             .set_column(table.schema.get_field_index("northing"), "northing", pa.array(located.northing))
             .append_column("cell", pa.array(located.cell, pa.uint64()))
             .append_column("file_id", pa.array(np.zeros(n, dtype="int64")))
             .append_column("incident_id", pa.array(np.zeros(n, dtype="int64"))))
    keys = table["partition_key"] if "partition_key" in table.column_names else pa.nulls(n, pa.string())
    completed = conform_incidents(table)
    completed = completed.set_column(0, "incident_id", pa.array(incidents_to_ids(completed), pa.int64()))
    return completed.append_column("partition_key", keys)


def _partitions(table: pa.Table, default_key: str) -> tuple[pa.Table, list[tuple[str, int, str | None, str | None]]]:
    """Fill missing partition keys; return the table and (key, rows, first month, last month) per partition."""
    n = table.num_rows
    column = table["partition_key"].combine_chunks() if n else pa.array([], pa.string())
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    labels = [default_key if v is None else v for v in column.dictionary.to_pylist()] + [default_key]
    codes = column.indices.fill_null(len(labels) - 1).to_numpy(zero_copy_only=False).astype("int64")
    unique_labels = sorted(set(labels))
    code_of = np.array([unique_labels.index(label) for label in labels], dtype="int32")
    codes = code_of[codes] if n else codes.astype("int32")
    keys = pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), pa.array(unique_labels, pa.string()))
    days = table["month"].cast(pa.int32()).to_numpy(zero_copy_only=False) if n else np.zeros(0, dtype="int32")
    stats = pd.DataFrame({"code": codes, "day": days}).groupby("code")["day"].agg(["size", "min", "max"])
    summary = [
        (unique_labels[code], int(row["size"]), str(np.datetime64(int(row["min"]), "D"))[:7],
         str(np.datetime64(int(row["max"]), "D"))[:7])
        for code, row in stats.iterrows()
    ]
    return table.set_column(table.schema.get_field_index("partition_key"), "partition_key", keys), summary


def _diff(ws: Workspace, old_segments: list, new: pa.Table) -> dict[str, int]:
    plain = pa.schema([("incident_id", pa.int64()), ("outcome", pa.string())])
    old = read_segments(ws, old_segments, ["incident_id", "outcome"]).cast(plain).to_pandas().set_index("incident_id")
    fresh = new.select(["incident_id", "outcome"]).cast(plain).to_pandas().set_index("incident_id")
    common = old.index.intersection(fresh.index)
    changed = (old.loc[common, "outcome"].fillna("") != fresh.loc[common, "outcome"].fillna("")).sum()
    return {"rows_before": len(old), "rows_after": len(fresh), "added": len(fresh.index.difference(old.index)),
            "removed": len(old.index.difference(fresh.index)), "outcome_changed": int(changed)}


def _cross_source_counts(ws: Workspace, conn, source: str, table: pa.Table) -> tuple[int, int]:
    """Return (linked, updated): police<->retailer reference links and retailer re-exports."""
    if source == SOURCE_POLICE_UK:
        retail = catalog.active_segments(conn, source=RETAILER_PREFIX + "*")
        if not retail:
            return 0, 0
        given = pc.unique(pc.drop_null(read_segments(ws, retail, ["police_ref"])["police_ref"]))
        hits = pc.unique(pc.filter(table["source_ref"], pc.is_in(table["source_ref"], value_set=given)))
        return len(hits), 0
    police = read_segments(ws, catalog.active_segments(conn, source=SOURCE_POLICE_UK), ["source_ref"])
    mine = pc.drop_null(table["police_ref"])
    linked = int(pc.sum(pc.is_in(mine, value_set=pc.unique(pc.drop_null(police["source_ref"])))).as_py() or 0)
    earlier = read_segments(ws, catalog.active_segments(conn, source=source), ["source_ref"])
    updated = int(pc.sum(pc.is_in(table["source_ref"], value_set=pc.unique(earlier["source_ref"]))).as_py() or 0)
    return linked, updated


@dataclass(frozen=True)
class _Prepared:
    """A file read and completed off the main thread, ready to be stored."""

    item: InputFile
    sha256: str
    size_bytes: int
    result: ReadResult | None
    table: pa.Table | None


def _prepare(ws: Workspace, source: str, item: InputFile, reader: Reader, resolution: int) -> _Prepared:
    """Load, hash, read, validate and geocode one file (no writes; safe in a worker thread)."""
    data = item.load()
    sha = hashlib.sha256(data).hexdigest()
    with contextlib.closing(connect(ws)) as conn:
        if catalog.find_file(conn, sha):
            return _Prepared(item, sha, len(data), None, None)
    result = reader(data, item.name)
    return _Prepared(item, sha, len(data), result, _complete(result, resolution))


def _store(ws: Workspace, conn, source: str, prep: _Prepared) -> FileSummary:
    """Write the segments of a prepared file and register everything in one transaction."""
    known = catalog.find_file(conn, prep.sha256)
    if known or prep.result is None:
        return FileSummary(prep.item.name, prep.sha256, "duplicate",
                           duplicate_of=f"{known[1]} (ingested {known[2]})" if known else None)
    result, file_id = prep.result, catalog.next_file_id(conn)
    table = prep.table.set_column(prep.table.schema.get_field_index("file_id"), "file_id",
                                  pa.array(np.full(prep.table.num_rows, file_id), pa.int64()))
    linked, updated = _cross_source_counts(ws, conn, source, table)
    table, parts = _partitions(table, f"{source}/{prep.sha256[:16]}")
    path = write_segment(ws, table, f"f{file_id}")
    replaced, replaced_segments = [], []
    with transaction(conn):
        catalog.ensure_source(conn, source)
        catalog.insert_file(conn, file_id, sha256=prep.sha256, source=source, name=prep.item.name,
                            size_bytes=prep.size_bytes, rows_read=result.rows_read, accepted=table.num_rows,
                            rejected=len(result.rejects),
                            summary={"rejected_by_reason": result.rejected_by_reason, "notes": list(result.notes)})
        catalog.insert_rejects(conn, file_id, result.rejects)
        for key, rows, low, high in parts:
            old = catalog.active_segments(conn, partition_key=key)
            catalog.deactivate_segments(conn, [s.segment_id for s in old], None)
            new_id = catalog.insert_segment(conn, file_id=file_id, partition_key=key, path=path,
                                            rows=rows, month_min=low, month_max=high)
            if old:
                catalog.deactivate_segments(conn, [s.segment_id for s in old], new_id)
                names = catalog.file_names(conn, sorted({s.file_id for s in old}))
                fresh = table.filter(pc.equal(table["partition_key"], key))
                replaced.append(Replacement(key, ", ".join(names.values()), **_diff(ws, old, fresh)))
                replaced_segments += old
    live = catalog.all_segment_paths(conn)
    remove_files(ws, {s.path for s in replaced_segments} - live)
    return FileSummary(prep.item.name, prep.sha256, "ingested", result.rows_read, table.num_rows,
                       len(result.rejects), result.rejected_by_reason, tuple(replaced), linked, updated, None,
                       result.notes)


def ingest_files(ws: Workspace, source: str, inputs: Iterable[InputFile], reader: Reader,
                 progress: Callable[[FileSummary], None] | None = None) -> IngestReport:
    """Ingest each input file with ``reader`` under the workspace write lock.

    Files are read and geocoded in a worker thread while the previous one is
    stored, and committed one by one in input order, so an interrupted run
    keeps the files it finished; re-running skips them (same content hash).
    Finally the counting rules are evaluated once and cached
    (:mod:`harmmap.store.counting`), so the next analysis reads only the
    columns it needs.
    """
    resolution = workspace_resolution(ws)
    summaries = []
    with write_lock(ws), contextlib.closing(connect(ws)) as conn, ThreadPoolExecutor(max_workers=1) as pool:
        remove_orphans(ws, catalog.all_segment_paths(conn))
        pending = None
        for item in inputs:
            future = pool.submit(_prepare, ws, source, item, reader, resolution)
            if pending is not None:
                summaries.append(_store(ws, conn, source, pending.result()))
                if progress:
                    progress(summaries[-1])
            pending = future
        if pending is not None:
            summaries.append(_store(ws, conn, source, pending.result()))
            if progress:
                progress(summaries[-1])
        counted_mask(ws, catalog.active_segments(conn), count_rules)  # leave the store ready to read
    return IngestReport(tuple(summaries))
