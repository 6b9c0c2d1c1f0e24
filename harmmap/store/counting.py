"""A cached "which rows count" mask per set of active segments.

The counting rules (:func:`harmmap.store.incidents.count_rules`) need the
reference keys of every stored row: on 10M incidents reading and comparing
them costs a few seconds, while the answer only
changes when the set of active segments changes.  So the answer is cached:
one bit per stored row, in read order, in ``cache/counted-<key>.npy`` where
``key`` hashes the ordered list of segments read.  Segments are immutable and
a new ingest changes the key, so a cache file can never be stale; a stray or
damaged one is recomputed.  Cache files are written atomically and may be
deleted at any time.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa

from harmmap.store.catalog import SegmentRow
from harmmap.store.segments import read_segments
from harmmap.store.workspace import Workspace

CACHE_DIR = "cache"
RULE_COLUMNS = ("incident_id", "source", "ref_key", "police_ref", "month", "file_id", "row_number")
_KEEP_FILES = 8


def segments_key(segments: Sequence[SegmentRow]) -> str:
    """A digest of the ordered segments (ids, paths, partitions, rows): the cache key."""
    text = "\n".join(f"{s.segment_id}|{s.path}|{s.partition_key}|{s.rows}" for s in segments)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _path(ws: Workspace, key: str) -> Path:
    return ws.root / CACHE_DIR / f"counted-{key}.npy"


def _load(path: Path, rows: int) -> np.ndarray | None:
    try:
        packed = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    mask = np.unpackbits(packed, count=rows).astype(bool) if packed.size * 8 >= rows else None
    return mask


def _save(path: Path, mask: np.ndarray) -> None:
    path.parent.mkdir(exist_ok=True)
    temp = path.with_name(f".tmp-{uuid.uuid4().hex}.npy")
    with open(temp, "wb") as handle:
        np.save(handle, np.packbits(mask), allow_pickle=False)
    os.replace(temp, path)
    old = sorted(path.parent.glob("counted-*.npy"), key=lambda p: p.stat().st_mtime)[:-_KEEP_FILES]
    for stale in old + [p for p in path.parent.glob(".tmp-*") if p != temp]:
        stale.unlink(missing_ok=True)


def counted_mask(ws: Workspace, segments: Sequence[SegmentRow], rules) -> np.ndarray:
    """Return the counted mask of the rows :func:`read_segments` yields for ``segments``, cached.

    ``rules`` is the function computing it from a table of :data:`RULE_COLUMNS`
    (passed in to keep the import graph one-way).
    """
    rows = sum(s.rows for s in segments)
    path = _path(ws, segments_key(segments))
    mask = _load(path, rows) if path.exists() else None
    if mask is not None:
        return mask
    table: pa.Table = read_segments(ws, segments, list(RULE_COLUMNS))
    mask = rules(table)["counted"].to_numpy(dtype=bool)
    if mask.size == rows:
        _save(path, mask)
    return mask
