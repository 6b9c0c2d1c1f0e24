"""Read incidents back for analysis, counting every incident once.

Reading is columnar: the active Parquet segments are read with pyarrow (only
the columns asked for) and concatenated; no row-by-row Python.  A distributed
backend can read the same segment files (``segments`` table -> Parquet paths).

Counting rules, applied here so every analysis shares them (``counted`` is
False, and ``not_counted_reason`` says why, for a row left out):

* ``repeat_crime_id`` — police.uk sometimes publishes one Crime ID on more than
  one row (re-published in a later month, or twice in a month).  One Crime ID
  is one crime: the earliest row (month, then file, then row) is counted.
* ``superseded_by_newer_file`` — a retailer re-exports an incident with the
  same reference: the row from the most recently ingested file is counted.
* ``linked_to_retailer`` — a police.uk crime whose Crime ID a retailer gave as
  the police reference of its own incident.  The retailer's record (which has
  the store, time, value and injury) stands for both; the link is kept in
  ``linked_incident_id``.  Only applies when both sources are read.
"""

from __future__ import annotations

import contextlib
from typing import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from harmmap.ingest.identity import refs_to_keys

from harmmap.schema import INCIDENT_SCHEMA, SOURCE_POLICE_UK
from harmmap.store.catalog import active_segments
from harmmap.store.counting import RULE_COLUMNS, counted_mask
from harmmap.store.segments import read_segments, table_to_frame
from harmmap.store.workspace import Workspace, connect



def _segments(ws: Workspace, sources: Sequence[str] | None) -> list:
    with contextlib.closing(connect(ws)) as conn:
        if sources is None:
            return active_segments(conn)
        found = {s.segment_id: s for source in sources for s in active_segments(conn, source=source)}
    return [found[k] for k in sorted(found)]


def read_incident_table(ws: Workspace, columns: Sequence[str] | None = None,
                        sources: Sequence[str] | None = None) -> pa.Table:
    """Return every stored incident of the active segments (counted or not) as an Arrow table."""
    return read_segments(ws, _segments(ws, sources), columns)


_REASONS = ("", "repeat_crime_id", "superseded_by_newer_file", "linked_to_retailer")
def _equals(column: pa.ChunkedArray, value: str) -> np.ndarray:
    """``column == value`` as a bool array (False for nulls); dictionary chunks compare their dictionary once."""
    parts = []
    for chunk in column.chunks:
        if pa.types.is_dictionary(chunk.type):
            hit = np.append(pc.fill_null(pc.equal(chunk.dictionary, value), False).to_numpy(zero_copy_only=False), False)
            parts.append(hit[chunk.indices.fill_null(len(chunk.dictionary)).to_numpy(zero_copy_only=False)])
        else:
            parts.append(pc.fill_null(pc.equal(chunk, value), False).to_numpy(zero_copy_only=False))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)


def _shared(keys: np.ndarray) -> np.ndarray:
    """Boolean mask of keys that occur more than once."""
    ordered = np.sort(keys)
    repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    return _member(keys, repeated)


def _member(keys: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    if sorted_set.size == 0:
        return np.zeros(keys.size, dtype=bool)
    return pd.Index(sorted_set).get_indexer(keys) >= 0


def _take(column: pa.ChunkedArray, rows: np.ndarray) -> pa.Array:
    """``column.take(rows)`` for sorted ``rows``, chunk by chunk (Arrow's chunked take is slow)."""
    bounds = np.cumsum([0] + [len(c) for c in column.chunks])
    chunk = np.searchsorted(bounds, rows, side="right") - 1
    pieces = []
    for index in np.unique(chunk):
        local = rows[chunk == index] - bounds[index]
        piece = column.chunk(int(index)).take(pa.array(local))
        pieces.append(piece.dictionary_decode() if pa.types.is_dictionary(piece.type) else piece)
    return pa.concat_arrays(pieces) if pieces else pa.array([], type=column.type)


def _subset(table: pa.Table, rows: np.ndarray, columns: list[str]) -> pd.DataFrame:
    """The given rows (ascending) and columns as pandas (rows are few: only repeats and retailer rows)."""
    frame = pd.DataFrame({c: _take(table[c], rows).to_pandas(date_as_object=False) for c in columns})
    frame.index = rows
    return frame


def _mark(frame: pd.DataFrame, key: list[str], order: list[str], keep: str, code: np.ndarray, reason: int) -> None:
    """Among rows sharing ``key``, leave one (``keep`` in ``order``) and give the others ``reason``."""
    group = frame.sort_values(order, kind="stable")
    extra = group.duplicated(key, keep=keep).to_numpy()
    code[group.index.to_numpy()[extra]] = reason


def count_rules(table: pa.Table) -> pd.DataFrame:
    """Return ``counted``, ``not_counted_reason`` and ``linked_incident_id`` for each row.

    ``table`` must hold the columns ``incident_id, source, police_ref, month,
    file_id, row_number`` and ``ref_key`` (or ``source_ref``, from which the
    keys are computed).  References are compared by their 64-bit key (the
    leading 64 bits of a police.uk Crime ID, a SipHash otherwise; two distinct
    references share one with probability ~n^2/2^65, as for incident ids), so
    the text is never read: about a second for 10M rows.
    """
    n = table.num_rows
    code = np.zeros(n, dtype=np.int8)
    linked = np.full(n, -1, dtype=np.int64)
    is_police = _equals(table["source"], SOURCE_POLICE_UK)
    keys, has_ref = _reference_keys(table)
    police = np.flatnonzero(is_police & has_ref)
    repeated = police[_shared(keys[police])]
    if repeated.size:
        frame = _subset(table, repeated, ["month", "file_id", "row_number"]).assign(key=keys[repeated])
        _mark(frame, ["key"], ["month", "file_id", "row_number"], "first", code, 1)
    retail = np.flatnonzero(~is_police & has_ref)
    if retail.size:
        frame = _subset(table, retail, ["source", "file_id", "row_number"]).assign(key=keys[retail])
        _mark(frame.astype({"source": "object"}), ["source", "key"], ["file_id", "row_number"], "last", code, 2)
    _link(table, keys, police, retail, code, linked)
    counted = code == 0
    used = np.flatnonzero(np.bincount(code, minlength=len(_REASONS))[1:]) + 1  # reasons that occur, in order
    slot = np.full(len(_REASONS), -1, dtype=np.int8)
    slot[used] = np.arange(len(used))
    reasons = pd.Categorical.from_codes(slot[code], categories=[_REASONS[i] for i in used])
    return pd.DataFrame({
        "counted": counted,
        "not_counted_reason": reasons,
        "linked_incident_id": pd.arrays.IntegerArray(linked, linked < 0),
    })


def _reference_keys(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """(key, has a reference) per row: the stored ``ref_key``, else computed from ``source_ref``."""
    if "ref_key" in table.column_names:
        keys = table["ref_key"].to_numpy()
        return keys, keys != 0
    return refs_to_keys(table["source_ref"]), pc.is_valid(table["source_ref"]).to_numpy(zero_copy_only=False)


def _link(table: pa.Table, keys: np.ndarray, police: np.ndarray, retail: np.ndarray,
          code: np.ndarray, linked: np.ndarray) -> None:
    """Mark counted police.uk rows whose Crime ID a counted retailer row gives as its police reference."""
    live = retail[code[retail] == 0]
    if live.size == 0:
        return
    refs = _subset(table, live, ["police_ref", "incident_id"]).dropna(subset=["police_ref"])
    if refs.empty:
        return
    refs = refs.assign(key=refs_to_keys(pa.array(refs["police_ref"].astype(object), pa.string())))
    refs = refs.drop_duplicates("key")
    open_police = police[code[police] == 0]
    candidates = open_police[_member(keys[open_police], np.sort(refs["key"].to_numpy()))]
    if candidates.size == 0:
        return
    target = pd.Series(refs["incident_id"].to_numpy(), index=refs["key"].to_numpy())
    hit = pd.Series(keys[candidates], index=candidates).map(target).dropna()
    rows = hit.index.to_numpy()
    code[rows] = 3
    linked[rows] = hit.to_numpy(dtype="int64")


def read_incidents(ws: Workspace, columns: Sequence[str] | None = None, *,
                   sources: Sequence[str] | None = None, include_uncounted: bool = False) -> pd.DataFrame:
    """Return the incidents of the workspace as a DataFrame, each incident once.

    Parameters
    ----------
    ws : Workspace
    columns : sequence of str, optional
        Incident columns to return (all by default).
    sources : sequence of str, optional
        e.g. ``["police_uk"]`` or ``["retailer:acme"]``; ``"retailer:*"``
        means every retailer.  All sources by default.  The counting rules
        apply among the sources read (a police.uk row is only "linked to a
        retailer" when that retailer is read too).
    include_uncounted : bool
        Also return rows the counting rules leave out, with the columns
        ``counted``, ``not_counted_reason`` and ``linked_incident_id``.

    Notes
    -----
    Which rows count is cached per set of active segments
    (:mod:`harmmap.store.counting`), and rows are dropped while each file is
    read, so a warm read of 10M incidents reads only the columns asked for.
    """
    wanted = list(columns) if columns is not None else list(INCIDENT_SCHEMA.names)
    segments = _segments(ws, sources)
    if not include_uncounted:
        keep = counted_mask(ws, segments, count_rules)
        return table_to_frame(read_segments(ws, segments, wanted, keep=keep))
    needed = wanted + [c for c in RULE_COLUMNS if c not in wanted]
    table = read_segments(ws, segments, needed)
    rules = count_rules(table)
    return pd.concat([table_to_frame(table.select(wanted)), rules], axis=1)
