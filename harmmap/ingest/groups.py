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
from collections import deque
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
PREFETCH_FILES = 4  #: files loaded and hashed ahead of the group being taken


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
    """The input files of a run, loaded and hashed a few files ahead on a thread of their own.

    Decompressing (ISA-L) and hashing (OpenSSL) release the GIL, so the next
    files are ready when a group is taken.  A file over ``big_from`` bytes is
    not hashed here (it is hashed while it is read).  The big file that
    arrives into a started group is held back for the next one.
    """

    def __init__(self, items: Iterable[InputFile], big_from: int | None = None, ahead: int = PREFETCH_FILES) -> None:
        self.items = iter(items)
        self.big_from = big_from
        self.ahead = ahead
        self.queue: deque[Future] = deque()
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.held: Loaded | None = None

    def _load(self, item: InputFile) -> tuple[InputFile, object, str | None]:
        data = item.load()
        big = self.big_from is not None and len(data) > self.big_from
        return item, data, None if big else _sha256(data)

    def __iter__(self):
        return self

    def __next__(self) -> tuple[InputFile, object, str | None]:
        while len(self.queue) < self.ahead:
            item = next(self.items, None)
            if item is None:
                break
            self.queue.append(self.pool.submit(self._load, item))
        if not self.queue:
            self.pool.shutdown(wait=False)
            raise StopIteration
        return self.queue.popleft().result()

    def close(self) -> None:
        """Stop loading ahead (pending loads are dropped)."""
        for future in self.queue:
            future.cancel()
        self.pool.shutdown(wait=True)


class IdCounter:
    """Hands out file ids in input order (the ingest holds the workspace write lock)."""

    def __init__(self, first: int) -> None:
        self.next = first

    def take(self) -> int:
        value, self.next = self.next, self.next + 1
        return value


def big_from(in_pieces: bool) -> int | None:
    """Files over this many bytes are read in pieces (None: no piece reader)."""
    return PIECE_BYTES * 3 // 2 if in_pieces else None


def take_group(ws: Workspace, inputs: Inputs, seen: dict[str, str], group_bytes: int,
               ids: IdCounter) -> tuple[list[Loaded | PreparedFile], bool]:
    """Load files from ``inputs`` until the group is full; return it and whether inputs remain.

    A file whose content is already in the workspace, or was met earlier in this
    run, comes back as a duplicate :class:`PreparedFile` (never read).  A big
    file (see :func:`big_from`) is a group on its own and is hashed while it
    is read: :func:`prepare_group` checks it for duplicates before writing
    anything.
    """
    if inputs.held is not None:
        held, inputs.held = inputs.held, None
        return [held], True
    group: list[Loaded | PreparedFile] = []
    size = 0
    with contextlib.closing(connect(ws)) as conn:
        for item, data, sha in inputs:
            if sha is None:  # a big file, read in pieces
                big = Loaded(item, data, _hash_beside(data), ids.take())
                if group:
                    inputs.held = big
                    return group, True
                return [big], True
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
