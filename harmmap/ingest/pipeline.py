"""Ingest files into a workspace: read, validate, geocode, store durably, report.

Files are stored a group at a time (:mod:`harmmap.ingest.prepare`), each group
in one transaction: its files' rows in ``files``, their rejects, their new
segments and the deactivation of the segments they replace commit together or
not at all, so every file is in the store completely or not at all.  A file
whose content hash is already known adds nothing.
police.uk partitions (force, month) are replaced by a later-loaded file of the
same partition: police.uk re-publishes months with updated outcomes.
"""

from __future__ import annotations

import contextlib
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable

import pyarrow as pa
import pyarrow.compute as pc

from harmmap.ingest.groups import (GROUP_BYTES, IdCounter, Inputs, PreparedFile, PreparedGroup, big_from, is_big,
                                   take_group)
from harmmap.ingest.prepare import Reader, prepare_group
from harmmap.ingest.result import PieceReader
from harmmap.ingest.sources import InputFile
from harmmap.schema import RETAILER_PREFIX, SOURCE_POLICE_UK
from harmmap.store import catalog
from harmmap.store.counting import counted_mask
from harmmap.store.incidents import count_rules
from harmmap.store.segments import read_segments, remove_files, remove_orphans
from harmmap.store.workspace import Workspace, connect, transaction, workspace_resolution, write_lock


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


def _diff(ws: Workspace, old_segments: list, new: pa.Table) -> dict[str, int]:
    plain = pa.schema([("incident_id", pa.int64()), ("outcome", pa.string())])
    old = read_segments(ws, old_segments, ["incident_id", "outcome"]).cast(plain).to_pandas().set_index("incident_id")
    fresh = new.select(["incident_id", "outcome"]).cast(plain).to_pandas().set_index("incident_id")
    common = old.index.intersection(fresh.index)
    changed = (old.loc[common, "outcome"].fillna("") != fresh.loc[common, "outcome"].fillna("")).sum()
    return {"rows_before": len(old), "rows_after": len(fresh), "added": len(fresh.index.difference(old.index)),
            "removed": len(old.index.difference(fresh.index)), "outcome_changed": int(changed)}


def _retail_police_refs(ws: Workspace, conn) -> pa.Array | None:
    """The police references retailers gave (distinct), or None when no retailer data is stored."""
    retail = catalog.active_segments(conn, source=RETAILER_PREFIX + "*")
    if not retail:
        return None
    return pc.unique(pc.drop_null(read_segments(ws, retail, ["police_ref"])["police_ref"]))


def _cross_source_counts(ws: Workspace, conn, source: str, group: PreparedGroup, f: PreparedFile,
                         known: dict) -> tuple[int, int]:
    """Return (linked, updated): police<->retailer reference links and retailer re-exports.

    ``known`` keeps what one group's files share (the retailers' police references) so it is read once.
    """
    if source == SOURCE_POLICE_UK:
        if "retail" not in known:
            known["retail"] = _retail_police_refs(ws, conn)
        given = known["retail"]
        if given is None:
            return 0, 0
        table = group.rows_of(f.file_id)
        hits = pc.unique(pc.filter(table["source_ref"], pc.is_in(table["source_ref"], value_set=given)))
        return len(hits), 0
    table = group.rows_of(f.file_id)
    police = read_segments(ws, catalog.active_segments(conn, source=SOURCE_POLICE_UK), ["source_ref"])
    mine = pc.drop_null(table["police_ref"])
    linked = int(pc.sum(pc.is_in(mine, value_set=pc.unique(pc.drop_null(police["source_ref"])))).as_py() or 0)
    # earlier = stored before this group, plus the group's own earlier files (whose segment file
    # is only partly registered until the group commits, so it is not read through the catalogue)
    paths = {path for g in group.files for path in g.paths}
    stored = [s for s in catalog.active_segments(conn, source=source) if s.path not in paths]
    before = group.table.filter(pc.less(group.table["file_id"], f.file_id))["source_ref"]
    earlier = pa.chunked_array(read_segments(ws, stored, ["source_ref"])["source_ref"].chunks + before.chunks,
                               pa.string())
    updated = int(pc.sum(pc.is_in(table["source_ref"], value_set=pc.unique(earlier))).as_py() or 0)
    return linked, updated


def _commit(ws: Workspace, conn, source: str, group: PreparedGroup) -> list[FileSummary]:
    """Register a prepared group in one transaction: files, rejects, segments, replacements."""
    summaries, replaced_segments, known = [], [], {}
    with transaction(conn):
        catalog.ensure_source(conn, source)
        for f in group.files:
            if f.result is None:
                summaries.append(FileSummary(f.item.name, f.sha256, "duplicate", duplicate_of=f.duplicate_of))
                continue
            summary, old = _commit_file(ws, conn, source, group, f, known)
            summaries.append(summary)
            replaced_segments += old
    live = catalog.all_segment_paths(conn)
    remove_files(ws, {s.path for s in replaced_segments} - live)
    return summaries


def _commit_file(ws: Workspace, conn, source: str, group: PreparedGroup, f: PreparedFile, known: dict):
    result = f.result
    accepted = sum(p.rows for p in f.partitions)
    by_key: dict[str, list] = {}
    for part in f.partitions:  # a big file read in pieces has a segment per (partition, piece)
        by_key.setdefault(part.key, []).append(part)
    linked, updated = _cross_source_counts(ws, conn, source, group, f, known)
    catalog.insert_file(conn, f.file_id, sha256=f.sha256, source=source, name=f.item.name,
                        size_bytes=f.size_bytes, rows_read=result.rows_read, accepted=accepted,
                        rejected=len(result.rejects),
                        summary={"rejected_by_reason": result.rejected_by_reason, "notes": list(result.notes)})
    catalog.insert_rejects(conn, f.file_id, result.rejects)
    replaced, replaced_segments = [], []
    for key, parts in by_key.items():
        old = catalog.active_segments(conn, partition_key=key)
        catalog.deactivate_segments(conn, [s.segment_id for s in old], None)
        new_ids = [catalog.insert_segment(conn, file_id=f.file_id, partition_key=key, path=part.path,
                                          rows=part.rows, month_min=part.month_min, month_max=part.month_max)
                   for part in parts]
        if old:
            catalog.deactivate_segments(conn, [s.segment_id for s in old], new_ids[0])
            names = catalog.file_names(conn, sorted({s.file_id for s in old}))
            fresh = group.rows_of(f.file_id, key)
            replaced.append(Replacement(key, ", ".join(names.values()), **_diff(ws, old, fresh)))
            replaced_segments += old
    summary = FileSummary(f.item.name, f.sha256, "ingested", result.rows_read, accepted, len(result.rejects),
                          result.rejected_by_reason, tuple(replaced), linked, updated, None, result.notes)
    return summary, replaced_segments


def _commit_next(ws: Workspace, conn, source: str, in_flight: deque, summaries: list, progress) -> None:
    """Wait for the oldest prepared group and commit it."""
    prepared = in_flight.popleft()[0].result()
    for summary in _commit(ws, conn, source, prepared):
        summaries.append(summary)
        if progress:
            progress(summary)


def ingest_files(ws: Workspace, source: str, inputs: Iterable[InputFile], reader: Reader,
                 progress: Callable[[FileSummary], None] | None = None, *,
                 pieces: PieceReader | None = None, group_bytes: int = GROUP_BYTES) -> IngestReport:
    """Ingest each input file with ``reader`` under the workspace write lock.

    Files are taken in groups of about ``group_bytes`` (see
    :mod:`harmmap.ingest.groups`) and loaded in input order; two groups are
    read and geocoded at a time in worker threads while the main thread
    commits finished groups, one transaction per group, in input order.  With ``pieces`` (e.g.
    :data:`harmmap.ingest.police_uk.POLICE_UK_PIECES`) a big file is read in
    pieces on two threads with bounded memory.  Every file of a committed group is
    in the store completely and no file of an uncommitted one is, so an
    interrupted run keeps the groups it finished and re-running skips their
    files (same content hash).  Finally the counting rules are evaluated once
    and cached (:mod:`harmmap.store.counting`), so the next analysis reads
    only the columns it needs.
    """
    resolution = workspace_resolution(ws)
    summaries: list[FileSummary] = []
    pending, seen, in_flight = Inputs(inputs, big_from(pieces is not None)), {}, deque()
    with (write_lock(ws), contextlib.closing(connect(ws)) as conn, ThreadPoolExecutor(max_workers=2) as pool,
          contextlib.closing(pending)):
        remove_orphans(ws, catalog.all_segment_paths(conn))
        ids, more = IdCounter(catalog.next_file_id(conn)), True
        while more or in_flight:
            while more and len(in_flight) < 2 and not (in_flight and in_flight[-1][1]):
                group, more = take_group(ws, pending, seen, group_bytes, ids)
                if group:
                    big = is_big(group)
                    while big and in_flight:  # a big file uses both cores: let the groups before it finish
                        _commit_next(ws, conn, source, in_flight, summaries, progress)
                    in_flight.append((pool.submit(prepare_group, ws, source, group, reader, resolution, pieces,
                                                  seen), big))
            if in_flight:
                _commit_next(ws, conn, source, in_flight, summaries, progress)
        counted_mask(ws, catalog.active_segments(conn), count_rules)  # leave the store ready to read
    return IngestReport(tuple(summaries))
