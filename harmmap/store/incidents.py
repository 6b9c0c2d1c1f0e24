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

from harmmap.ingest.identity import hex_prefix
from harmmap.schema import INCIDENT_SCHEMA, SOURCE_POLICE_UK
from harmmap.store.catalog import active_segments
from harmmap.store.segments import read_segments, table_to_frame
from harmmap.store.workspace import Workspace, connect

_RULE_COLUMNS = ("incident_id", "source", "source_ref", "police_ref", "month", "file_id", "row_number")


def read_incident_table(ws: Workspace, columns: Sequence[str] | None = None,
                        sources: Sequence[str] | None = None) -> pa.Table:
    """Return every stored incident of the active segments (counted or not) as an Arrow table."""
    with contextlib.closing(connect(ws)) as conn:
        if sources is None:
            segments = active_segments(conn)
        else:
            found = {s.segment_id: s for source in sources for s in active_segments(conn, source=source)}
            segments = [found[k] for k in sorted(found)]
    return read_segments(ws, segments, columns)


def count_rules(table: pa.Table) -> pd.DataFrame:
    """Return ``counted``, ``not_counted_reason`` and ``linked_incident_id`` for each row.

    ``table`` must hold the columns ``incident_id, source, source_ref,
    police_ref, month, file_id, row_number``.  Only rows whose reference
    occurs more than once are sorted, so this stays fast on national data.
    """
    frame = table.select(list(_RULE_COLUMNS)).to_pandas(date_as_object=False)
    n = len(frame)
    reason = np.full(n, "", dtype=object)
    linked = np.full(n, -1, dtype="int64")
    is_police = (frame["source"] == SOURCE_POLICE_UK).to_numpy(dtype=bool)
    has_ref = frame["source_ref"].notna().to_numpy(dtype=bool)
    police = is_police & has_ref
    retail = ~is_police & has_ref
    _mark_repeats(frame, police, ["source_ref"], ["month", "file_id", "row_number"], "first",
                  reason, "repeat_crime_id", hex_prefix(table["source_ref"]))
    _mark_repeats(frame, retail, ["source", "source_ref"], ["file_id", "row_number"], "last",
                  reason, "superseded_by_newer_file")
    _apply_links(frame, reason, linked, police, retail)
    counted = reason == ""
    codes, labels = pd.factorize(np.where(counted, None, reason))  # None -> code -1 (missing)
    return pd.DataFrame({
        "counted": counted,
        "not_counted_reason": pd.Categorical.from_codes(codes, list(labels)),
        "linked_incident_id": pd.arrays.IntegerArray(linked, linked < 0),
    })


def _mark_repeats(frame: pd.DataFrame, rows: np.ndarray, key: list[str], order: list[str], keep: str,
                  reason: np.ndarray, code: str, prefix: np.ndarray | None = None) -> None:
    """Among ``rows`` sharing ``key``, leave one (``keep`` in ``order``) and give the others ``code``."""
    if not rows.any():
        return
    repeated = _repeated(frame, rows, key, None if prefix is None else prefix[rows])
    if not repeated.any():
        return
    index = frame.index[rows][repeated]
    group = frame.loc[index, key + order].sort_values(order, kind="stable")
    extra = group.duplicated(key, keep=keep).to_numpy()
    reason[group.index[extra]] = code


def _repeated(frame: pd.DataFrame, rows: np.ndarray, key: list[str], prefix: np.ndarray | None) -> np.ndarray:
    """For ``rows``: True where the key occurs more than once (via the 64-bit Crime ID prefix when given)."""
    if prefix is not None:
        ordered = np.sort(prefix)
        shared = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
        return np.isin(prefix, shared) if len(shared) else np.zeros(len(prefix), dtype=bool)
    return frame.loc[rows, key].duplicated(keep=False).to_numpy()


def _apply_links(frame: pd.DataFrame, reason: np.ndarray, linked: np.ndarray,
                 police: np.ndarray, retail: np.ndarray) -> None:
    live_retail = retail & (reason == "") & frame["police_ref"].notna().to_numpy(dtype=bool)
    if not live_retail.any():
        return
    refs = frame.loc[live_retail, ["police_ref", "incident_id"]].drop_duplicates("police_ref")
    target = pd.Series(refs["incident_id"].to_numpy(), index=refs["police_ref"].to_numpy())
    candidates = police & (reason == "")
    hit = frame.loc[candidates, "source_ref"].map(target)
    matched = hit.dropna()
    rows = matched.index.to_numpy()
    reason[rows] = "linked_to_retailer"
    linked[rows] = matched.to_numpy(dtype="int64")


def read_incidents(ws: Workspace, columns: Sequence[str] | None = None, *,
                   sources: Sequence[str] | None = None, include_uncounted: bool = False) -> pd.DataFrame:
    """Return the incidents of the workspace as a DataFrame, each incident once.

    Parameters
    ----------
    ws : Workspace
    columns : sequence of str, optional
        Incident columns to return (all by default); the counting columns are
        read as well but only returned with ``include_uncounted``.
    sources : sequence of str, optional
        e.g. ``["police_uk"]`` or ``["retailer:acme"]``; ``"retailer:*"``
        means every retailer.  All sources by default.
    include_uncounted : bool
        Also return rows the counting rules leave out, with the columns
        ``counted``, ``not_counted_reason`` and ``linked_incident_id``.
    """
    wanted = list(columns) if columns is not None else list(INCIDENT_SCHEMA.names)
    needed = wanted + [c for c in _RULE_COLUMNS if c not in wanted]
    table = read_incident_table(ws, needed, sources)
    rules = count_rules(table)
    frame = table_to_frame(table.select(wanted))
    if include_uncounted:
        return pd.concat([frame, rules], axis=1)
    counted = rules["counted"].to_numpy()
    return frame if counted.all() else frame[counted].reset_index(drop=True)
