"""What the retailer screens show: one organisation's store risk, a store's own incidents, and the
suppressed statistics of the area around a store.

Privacy, for analysts
---------------------
A retailer sees its own stores and its own incidents exactly (they are its own records), and
of everything else only area statistics with small-count suppression
(:mod:`harmmap.privacy`): counts from 1 to threshold-1 hidden, the others rounded to the base,
harm hidden wherever its count is, and no total beside its parts.

The area statistics of a store are the incidents *reported by others* (police.uk and other
organisations) in the store's H3 cell and its six neighbours during the scoring window, by
crime type: the scoring run's figures minus the organisation's own incidents in the same cells
and window.  Publishing the area's figures with the organisation's own incidents included
would let it subtract its own (exactly known) count and learn a small count of everybody
else's.  The subtraction is only exact while the organisation's data is the data the run saw,
so when it has uploaded since the latest run (its source's files, rows or last ingest differ
from the run's record) the area statistics are withheld until the next run.  Raw harm of the
neighbourhood is never shown; the store risk uses only its percentile.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from harmmap.geo.cells import cells_to_parents, cells_to_strings, strings_to_cells
from harmmap.privacy import describe_suppression, suppress_counts, suppress_values_by_count
from harmmap.schema import CRIME_TYPES, RETAILER_PREFIX
from harmmap.scoring.store_risk import local_harm_reference, score_stores, window_bounds
from harmmap.store.incidents import read_incidents
from harmmap.store.workspace import Workspace, connect
from harmmap.web.data import Run, _cached, latest_run, require_run, stores_of

_HARM_COLUMNS = ["cell", "month", "crime_type", "offence", "injury", "weapon", "value_gbp"]


@dataclass(frozen=True)
class StoreRisk:
    """The risk table of one organisation's stores and the runs it came from."""

    org_id: str
    run: Run
    trends_run_id: str | None
    window: tuple[str, str]
    table: pd.DataFrame  # store columns + harmmap.scoring.store_risk.RESULT_COLUMNS


def _resolution(run: Run) -> int:
    return int(run.row.settings.get("resolution") or run.row.metadata.get("resolution") or 9)


def _store_cells(stores: pd.DataFrame, resolution: int) -> np.ndarray:
    cells = strings_to_cells(stores["cell"].astype(str))
    return cells_to_parents(cells, resolution) if len(cells) else cells


def _trend_frame(stores: pd.DataFrame, scoring_cells: np.ndarray, trends: Run | None) -> pd.DataFrame | None:
    """Trend class of each store's cell, keyed by its cell at the scoring resolution."""
    if trends is None:
        return None
    at = _store_cells(stores, _resolution(trends))
    table = trends.cells[["cell", "emerging_class"]].drop_duplicates("cell").set_index("cell")["emerging_class"]
    found = table.reindex(at.astype(np.uint64)).fillna("no_pattern").to_numpy(dtype=object)
    return pd.DataFrame({"cell": scoring_cells, "emerging_class": found}).drop_duplicates("cell")


def store_risk(ws: Workspace, org_id: str) -> StoreRisk:
    """Score the stores of ``org_id`` against the latest scoring and trends runs."""
    run, trends = require_run(ws, "scoring"), latest_run(ws, "trends")
    stores = stores_of(ws, org_id).reset_index(drop=True)
    study = int(run.row.metadata.get("grid", {}).get("cells", 0)) or None
    reference = _cached((str(ws.root), "store-risk-reference", run.row.run_id),
                        lambda: local_harm_reference(run.cells, study, int(run.row.metadata.get("k", 1) or 1)))
    cells = _store_cells(stores, _resolution(run))
    own = read_incidents(ws, ["store_id", "month"], sources=[RETAILER_PREFIX + org_id])
    first, last = window_bounds(run.row.metadata["window"]["periods"])
    scored = score_stores(pd.DataFrame({"store_id": stores["store_id"].astype(str), "cell": cells}), run.cells,
                          _trend_frame(stores, cells, trends), own, window=(first, last), reference=reference)
    base = stores[["store_id", "name", "postcode", "lat", "lng"]].assign(store_id=stores["store_id"].astype(str),
                                                                         scoring_cell=cells)
    table = base.merge(scored, on="store_id", how="left")
    return StoreRisk(org_id, run, trends.row.run_id if trends else None, (str(first), str(last)), table)


def own_by_month(ws: Workspace, org_id: str, store_id: str, window: tuple[str, str]) -> pd.DataFrame:
    """The organisation's own counted incidents at one store per month of the window (exact: its own data)."""
    own = read_incidents(ws, ["store_id", "month"], sources=[RETAILER_PREFIX + org_id])
    months = pd.period_range(window[0], window[1], freq="M")
    mine = pd.to_datetime(own.loc[own["store_id"].astype(str) == store_id, "month"]).dt.to_period("M")
    counts = mine.value_counts().reindex(months, fill_value=0)
    return pd.DataFrame({"month": [str(m) for m in months], "incidents": counts.to_numpy(dtype="int64")})


def _source_vintage(ws: Workspace, source: str) -> dict | None:
    with contextlib.closing(connect(ws)) as conn:
        row = conn.execute(
            "SELECT count(DISTINCT f.file_id), max(f.ingested_at), sum(s.rows) FROM segments s JOIN files f"
            " USING (file_id) WHERE s.active = 1 AND f.source = ?", (source,)).fetchone()
    return None if not row or not row[0] else {"files": row[0], "last_ingested_at": row[1], "rows": row[2]}


def own_data_unchanged(ws: Workspace, run: Run, org_id: str) -> bool:
    """True when the organisation's stored incidents are those the scoring run saw."""
    source = RETAILER_PREFIX + org_id
    seen = next((s for s in run.row.metadata.get("context", {}).get("vintage", {}).get("sources", [])
                 if s.get("source") == source), None)
    now = _source_vintage(ws, source)
    if seen is None or now is None:
        return seen is None and now is None and "vintage" in run.row.metadata.get("context", {})
    return all(seen.get(key) == now[key] for key in ("files", "last_ingested_at", "rows"))


def _area_by_type(ws: Workspace, run: Run, hexes: list[str]) -> pd.DataFrame:
    """Incidents and harm per crime type in the given cells over the run's window (all sources)."""
    path = ws.root / run.row.path / "crime_types.parquet"
    if not path.exists():
        rows = run.cells[run.cells["cell"].isin(strings_to_cells(hexes))]
        return pd.DataFrame({"crime_type": ["All crime types"], "incidents": [int(rows["incidents"].sum())],
                             "harm": [float(rows["harm"].sum())]})
    table = pq.read_table(path, columns=["unit_kind", "unit", "crime_type", "harm", "incidents"],
                          filters=[("unit_kind", "=", "cell"), ("unit", "in", hexes)]).to_pandas()
    sums = table.groupby("crime_type")[["incidents", "harm"]].sum()
    sums = sums.reindex(sorted(set(CRIME_TYPES) | set(sums.index) - {"-"}), fill_value=0)
    return sums.rename_axis("crime_type").reset_index()


def _own_by_type(ws: Workspace, run: Run, org_id: str, cells: np.ndarray) -> pd.DataFrame:
    """The organisation's own incidents and their harm per crime type in ``cells`` over the window."""
    from harmmap.scoring.harm import incidents_to_harm
    from harmmap.scoring.periods import recency_weights
    from harmmap.weights import load_harm_weights

    own = read_incidents(ws, _HARM_COLUMNS, sources=[RETAILER_PREFIX + org_id])
    first, last = window_bounds(run.row.metadata["window"]["periods"])
    month = own["month"].to_numpy(dtype="datetime64[M]")
    at = cells_to_parents(own["cell"].to_numpy(np.uint64), _resolution(run)) if len(own) else np.zeros(0, np.uint64)
    keep = np.isin(at, cells) & (month >= first) & (month <= last)
    own = own.loc[keep].reset_index(drop=True)
    if own.empty:
        return pd.DataFrame({"crime_type": pd.Series(dtype=object), "incidents": pd.Series(dtype="int64"),
                             "harm": pd.Series(dtype="float64")})
    harm = incidents_to_harm(own, load_harm_weights(run.row.settings.get("weights", "cchi")))
    harm = harm * recency_weights(month[keep], last, run.row.settings.get("half_life_months"))
    frame = pd.DataFrame({"crime_type": own["crime_type"].astype(str), "harm": harm})
    return frame.groupby("crime_type").agg(incidents=("harm", "size"), harm=("harm", "sum")).reset_index()


def others_by_type(area: pd.DataFrame, own: pd.DataFrame) -> pd.DataFrame | None:
    """Area minus own, by crime type; None when they do not fit (own more than the area somewhere)."""
    joined = area.merge(own, on="crime_type", how="outer", suffixes=("", "_own")).set_index("crime_type")
    joined = joined.fillna({c: 0 for c in ("incidents", "harm", "incidents_own", "harm_own")})
    incidents = joined["incidents"] - joined["incidents_own"]
    harm = joined["harm"] - joined["harm_own"]
    if (incidents < 0).any() or (harm < -1e-6 * max(1.0, float(joined["harm"].abs().max()))).any():
        return None
    return pd.DataFrame({"crime_type": joined.index.astype(str), "incidents": incidents.astype("int64").to_numpy(),
                         "harm": np.maximum(harm.to_numpy(dtype="float64"), 0.0)})


def area_rows(others: pd.DataFrame, threshold: int, base: int) -> list[dict]:
    """The published rows of the area table: suppressed counts, harm hidden with its count, no total.

    Parameters
    ----------
    others : pandas.DataFrame
        ``crime_type``, ``incidents`` (true counts) and ``harm``.
    threshold, base : int
        Suppression settings (:func:`harmmap.privacy.suppress_counts`).

    Returns
    -------
    list of dict
        ``crime_type``, ``incidents`` (text), ``incidents_value`` (rounded number or None),
        ``harm`` (text), ``harm_value`` (number or None), ``hidden`` (bool).
    """
    counts = suppress_counts(others["incidents"].to_numpy(dtype="float64"), threshold=threshold, base=base)
    harm = suppress_values_by_count(others["harm"].to_numpy(dtype="float64"), others["incidents"].to_numpy(
        dtype="float64"), threshold=threshold, base=base, decimals=0)
    value = lambda v: None if not np.isfinite(v) else float(v)  # noqa: E731
    return [{"crime_type": str(t), "incidents": str(c), "incidents_value": value(n), "harm": str(h),
             "harm_value": value(hv), "hidden": bool(hidden)}
            for t, c, n, h, hv, hidden in zip(others["crime_type"], counts.display, counts.shown, harm.display,
                                              harm.shown, counts.hidden)]


def area_statistics(ws: Workspace, risk: StoreRisk, store: pd.Series, threshold: int, base: int) -> dict:
    """The suppressed area table around one store, or why it is withheld."""
    import h3ronpy

    cell = np.array([store["scoring_cell"]], dtype=np.uint64)
    disk = np.unique(np.asarray(h3ronpy.grid_disk(cell, 1, flatten=True), dtype=np.uint64))
    note = describe_suppression(threshold, base)
    if not own_data_unchanged(ws, risk.run, risk.org_id):
        return {"available": False, "reason": "Your organisation's data changed after the latest scoring run; the "
                "area statistics come back after the next run.", "rows": [], "note": note, "cells": len(disk)}
    hexes = [str(h) for h in cells_to_strings(disk)]
    others = others_by_type(_area_by_type(ws, risk.run, hexes), _own_by_type(ws, risk.run, risk.org_id, disk))
    if others is None:
        return {"available": False, "reason": "The area statistics cannot be separated from your own reports for "
                "this store.", "rows": [], "note": note, "cells": len(disk)}
    return {"available": True, "reason": None, "rows": area_rows(others, threshold, base), "note": note,
            "cells": len(disk)}


__all__ = ["StoreRisk", "area_rows", "area_statistics", "others_by_type", "own_by_month", "own_data_unchanged",
           "store_risk"]
