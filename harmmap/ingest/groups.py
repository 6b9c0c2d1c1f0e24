"""Groups of input files: loading, hashing, duplicates, file ids, and what a prepared group is.

Files are taken in input order into a group until it holds about
``GROUP_BYTES`` of decompressed data (at most ``GROUP_FILES`` files); a bigger
file is a group on its own.  Each file is hashed (SHA-256 of its decompressed
content) and checked against the workspace and the files met earlier in the
run before it is read; a big file that will be read in pieces is hashed on a
thread of its own while it is read, and checked before anything is written.
File ids are given here, in input order, so groups can be prepared two at a
time and still be committed in order.
"""

from __future__ import annotations

import contextlib
import hashlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterable

import pyarrow as pa
import pyarrow.compute as pc

from harmmap.ingest.result import ReadResult
from harmmap.ingest.sources import InputFile
from harmmap.store import catalog
from harmmap.store.segments import PARTITION_COLUMN
from harmmap.store.workspace import Workspace, connect

GROUP_BYTES = 16 << 20  #: decompressed bytes of input per group (a bigger file is a group on its own)
GROUP_FILES = 400  #: at most this many files per group (bounds one commit)
PIECE_BYTES = 64 << 20  #: a file over 1.5x this is read in pieces of about this size (when its format allows)


@dataclass(frozen=True)
class Partition:
    """The rows of one file in one partition (what a later vintage replaces)."""

    key: str
    rows: int
    month_min: str | None
    month_max: str | None
    path: str  # the segment file holding these rows


@dataclass(frozen=True)
class PreparedFile:
    """One input file after reading: its id, result, partitions and segment file."""

    item: InputFile
    sha256: str
    size_bytes: int
    file_id: int | None  # None for a duplicate
    result: ReadResult | None  # None for a duplicate
    partitions: tuple[Partition, ...] = ()  # a big file has one per (partition, piece)
    duplicate_of: str | None = None

    @property
    def paths(self) -> set[str]:
        """The segment files holding this file's rows."""
        return {p.path for p in self.partitions}


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
class Loaded:
    item: InputFile
    data: bytes
    sha256: str | Future  # a big file is hashed while it is read
    file_id: int  # given in input order when loaded (a big file found duplicate later leaves a gap)


def _sha256(data) -> str:
    return hashlib.sha256(data).hexdigest()  # releases the GIL: runs beside the parsing threads


def _hash_beside(data) -> Future:
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(_sha256, data)
    pool.shutdown(wait=False)
    return future


class Inputs:
    """The input files of a run, with the big file held back when it arrives into a started group."""

    def __init__(self, items: Iterable[InputFile]) -> None:
        self.items = iter(items)
        self.held: Loaded | None = None


class IdCounter:
    """Hands out file ids in input order (the ingest holds the workspace write lock)."""

    def __init__(self, first: int) -> None:
        self.next = first

    def take(self) -> int:
        value, self.next = self.next, self.next + 1
        return value


def take_group(ws: Workspace, inputs: Inputs, seen: dict[str, str], group_bytes: int, ids: IdCounter,
               in_pieces: bool = False) -> tuple[list[Loaded | PreparedFile], bool]:
    """Load files from ``inputs`` until the group is full; return it and whether inputs remain.

    A file whose content is already in the workspace, or was met earlier in this
    run, comes back as a duplicate :class:`PreparedFile` (never read).  With
    ``in_pieces``, a file over 1.5 x ``PIECE_BYTES`` is a group on its own and is hashed
    while it is read: :func:`prepare_group` checks it for duplicates before
    writing anything.
    """
    if inputs.held is not None:
        held, inputs.held = inputs.held, None
        return [held], True
    group: list[Loaded | PreparedFile] = []
    size = 0
    with contextlib.closing(connect(ws)) as conn:
        for item in inputs.items:
            data = item.load()
            if in_pieces and len(data) > PIECE_BYTES * 3 // 2:
                big = Loaded(item, data, _hash_beside(data), ids.take())
                if group:
                    inputs.held = big
                    return group, True
                return [big], True
            sha = _sha256(data)
            duplicate = duplicate_entry(conn, item, data, sha, seen)
            if duplicate is not None:
                group.append(duplicate)
                continue
            group.append(Loaded(item, data, sha, ids.take()))
            size += len(data)
            if size >= group_bytes or len(group) >= GROUP_FILES:
                return group, True
    return group, False


def is_big(group: list) -> bool:
    """True for a group holding one big file (read in pieces on both cores)."""
    return any(isinstance(entry, Loaded) and isinstance(entry.sha256, Future) for entry in group)


def duplicate_entry(conn, item: InputFile, data, sha: str, seen: dict[str, str]) -> PreparedFile | None:
    """A duplicate entry if this content is stored or was met earlier in the run; else record it as seen."""
    known = catalog.find_file(conn, sha)
    if known or sha in seen:
        note = f"{known[1]} (ingested {known[2]})" if known else f"{seen[sha]} (this run)"
        return PreparedFile(item, sha, len(data), None, None, duplicate_of=note)
    seen[sha] = item.name
    return None
