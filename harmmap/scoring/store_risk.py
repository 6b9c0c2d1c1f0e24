"""Store risk: one 0-100 score per store, a band and the reasons behind it.

What it does, for analysts
--------------------------
Each store of a retailer is scored from four things the latest runs already
hold, each turned into a number from 0 to 1 and weighted:

==================  ======  ===============================================================
component           weight  how it is measured
==================  ======  ===============================================================
local harm          35      Harm of the store's H3 cell and its k=1 ring (7 cells) in the
                            scoring run, as a percentile ``p``: the share of all cells of the
                            zero-filled study grid whose own 7-cell neighbourhood has *less*
                            harm than the store's (0 when nothing happened around the store).
                            On a log scale of the store's "top q %" (``q = 100 - p``, at
                            least 0.1): ``log10(100 / q) / 3``, so top 10 % gives 1/3, top
                            1 % 2/3, top 0.1 % 1.  Stores sit where people and crime are
                            (most are in the grid's top few per cent), so a linear
                            percentile would give nearly all of them the same value.
hotspot class       20      Gi* bin of the store's cell: 99 % hot spot 1, 95 % 2/3, 90 % 1/3,
                            not significant or cold 0.
trend               20      Emerging hot-spot class of the store's cell in the trends run:
                            intensifying 1.0, persistent and new 0.8, consecutive 0.7,
                            sporadic and oscillating 0.5, diminishing 0.3, historical 0.2,
                            no pattern and every cold class 0.
own incidents       20      The organisation's own counted incidents at the store in the
                            scoring window, as a yearly rate ``r``; the component is
                            ``r / (r + 12)``: one a month gives 0.5, three a month 0.75.
own incidents       5       1 when they are rising: at least 3 in the last 6 months of the
rising                      window and more than 1.5 times the 6 months before (halves of
                            the window when it is shorter than a year).
==================  ======  ===============================================================

``score = sum(weight x component)``, rounded to one decimal.  Bands:
**high** from 60, **medium** from 35, **low** below 35.  A store in the busiest
neighbourhood of an intensifying 99 % hot spot with one own incident a month
scores 35 + 20 + 20 + 10 = 85 (high); a store in an average neighbourhood with no
hot spot or trend and one own incident a month scores about 17.5 + 10 = 27.5 (low).

Reason codes say which components raise the score (at most one per row):

* ``LOCAL_HARM_TOP1`` / ``LOCAL_HARM_TOP5`` / ``LOCAL_HARM_TOP10``: local harm percentile at
  least 99 / 95 / 90;
* ``HOT_SPOT_99`` / ``HOT_SPOT_95`` / ``HOT_SPOT_90``: the Gi* bin;
* ``INTENSIFYING``, ``PERSISTENT``, ``NEW_HOT_SPOT``, ``CONSECUTIVE``, ``SPORADIC``,
  ``OSCILLATING``, ``DIMINISHING``, ``HISTORICAL``: the emerging class;
* ``OWN_INCIDENTS_HIGH``: at least 12 own incidents a year (the own component 0.5 or more);
* ``OWN_INCIDENTS_RISING``: as defined above.

Properties (tested in ``tests/scoring/test_store_risk.py``): the result does not
depend on the order of any input's rows; more harm anywhere in a store's
neighbourhood never lowers its score (with the study grid's size fixed, and
for harm values in whole or half units, as Crime Harm Index days are; with
arbitrary floats, rounding of different sums could in principle flip a tie);
a higher Gi* bin, a more urgent trend class or more own incidents in the last
six months never lower it.  More own incidents in the *earlier* half can switch
``OWN_INCIDENTS_RISING`` off, by design: a steady level is not a rise.
Harm *elsewhere* can lower a store's percentile: the measure is relative.

Why the percentile is taken over the whole study grid, not only over cells with
harm: the study grid is the zero-filled grid the hotspot statistics use, and its
size does not change when harm is added, which is what keeps the score
monotone (a percentile among "cells with harm" can drop when a new cell with
harm joins the reference set).  Everything here is pure: arrays and frames in,
a new frame out.
"""

from __future__ import annotations

from dataclasses import dataclass

import h3ronpy
import numpy as np
import pandas as pd
import pyarrow as pa

from harmmap.errors import ConfigError, SchemaError

WEIGHTS = {"local_harm": 35.0, "hot_spot": 20.0, "trend": 20.0, "own_incidents": 20.0, "own_rising": 5.0}
HIGH_FROM, MEDIUM_FROM = 60.0, 35.0
BANDS = ("high", "medium", "low")
TREND_RISK = {"intensifying_hot_spot": 1.0, "persistent_hot_spot": 0.8, "new_hot_spot": 0.8,
              "consecutive_hot_spot": 0.7, "sporadic_hot_spot": 0.5, "oscillating_hot_spot": 0.5,
              "diminishing_hot_spot": 0.3, "historical_hot_spot": 0.2}
TREND_CODES = {key: key.removesuffix("_hot_spot").upper() for key in TREND_RISK} | {"new_hot_spot": "NEW_HOT_SPOT"}
OWN_HALF_RATE = 12.0  # own incidents a year at which the own component is 0.5
RISING_MONTHS, RISING_MIN, RISING_RATIO = 6, 3, 1.5
LOCAL_HARM_CODES = ((99.0, "LOCAL_HARM_TOP1"), (95.0, "LOCAL_HARM_TOP5"), (90.0, "LOCAL_HARM_TOP10"))
HOT_SPOT_CODES = {3: "HOT_SPOT_99", 2: "HOT_SPOT_95", 1: "HOT_SPOT_90"}

#: Plain-English text of every reason code (for pages, exports and the API).
REASONS = {
    "LOCAL_HARM_TOP1": "Harm around the store is in the top 1 % of the area's neighbourhoods",
    "LOCAL_HARM_TOP5": "Harm around the store is in the top 5 % of the area's neighbourhoods",
    "LOCAL_HARM_TOP10": "Harm around the store is in the top 10 % of the area's neighbourhoods",
    "HOT_SPOT_99": "The store is in a hot spot (99 % confidence)",
    "HOT_SPOT_95": "The store is in a hot spot (95 % confidence)",
    "HOT_SPOT_90": "The store is in a hot spot (90 % confidence)",
    "INTENSIFYING": "Intensifying hot spot: hot in most periods and getting hotter",
    "PERSISTENT": "Persistent hot spot: hot in most periods",
    "NEW_HOT_SPOT": "New hot spot: hot for the first time in the latest period",
    "CONSECUTIVE": "Consecutive hot spot: hot in the latest run of periods",
    "SPORADIC": "Sporadic hot spot: hot on and off",
    "OSCILLATING": "Oscillating hot spot: hot now, cold before",
    "DIMINISHING": "Diminishing hot spot: hot in most periods but cooling",
    "HISTORICAL": "Historical hot spot: hot in the past, not lately",
    "OWN_INCIDENTS_HIGH": "Your own reports: at least one incident a month at this store",
    "OWN_INCIDENTS_RISING": "Your own reports: more incidents in the last 6 months than the 6 before",
}
RESULT_COLUMNS = ("store_id", "score", "band", "reasons", "local_harm_pct", "gi_bin", "emerging_class",
                  "own_incidents", "own_recent", "own_previous", "own_rising", "c_local_harm", "c_hot_spot",
                  "c_trend", "c_own_incidents")


@dataclass(frozen=True, slots=True)
class LocalHarmReference:
    """The neighbourhood harm of every cell of the study grid, to rank stores against.

    Attributes
    ----------
    cells : numpy.ndarray of uint64
        Cells harm is known for (sorted), with their harm in ``harm``.
    harm : numpy.ndarray of float64
    ring_sums : numpy.ndarray of float64
        Sorted neighbourhood (cell + k-ring) harm of every cell within ``k`` rings of a cell
        with harm; all other cells of the grid have 0.
    n_cells : int
        Cells of the study grid (at least ``len(ring_sums)``).
    k : int
    """

    cells: np.ndarray
    harm: np.ndarray
    ring_sums: np.ndarray
    n_cells: int
    k: int


def _ring_sums(centres: np.ndarray, cells: np.ndarray, harm: np.ndarray, k: int) -> np.ndarray:
    """Harm of each centre's disk of ``k`` rings (cells missing from ``cells`` have 0)."""
    if centres.size == 0 or cells.size == 0:
        return np.zeros(centres.size)
    disks = pa.array(h3ronpy.grid_disk(centres, k))
    offsets = np.asarray(disks.offsets, dtype=np.int64)
    members = np.asarray(disks.values, dtype=np.uint64)[offsets[0]:offsets[-1]]
    at = np.minimum(np.searchsorted(cells, members), cells.size - 1)
    value = np.where(cells[at] == members, harm[at], 0.0)
    rows = np.repeat(np.arange(centres.size), np.diff(offsets))
    return np.bincount(rows, weights=value, minlength=centres.size)


def _cell_frame(cells: pd.DataFrame, columns: tuple[str, ...], name: str) -> pd.DataFrame:
    missing = [c for c in columns if c not in cells]
    if missing:
        raise SchemaError(f"{name} lacks columns", given=", ".join(missing), fix=f"pass columns {list(columns)}")
    frame = cells.loc[:, list(columns)].copy()
    frame["cell"] = frame["cell"].to_numpy(dtype=np.uint64)
    if frame["cell"].duplicated().any():
        raise SchemaError(f"{name} lists a cell twice", given=int(frame["cell"].duplicated().sum()),
                          fix="pass one row per cell")
    return frame.sort_values("cell", kind="stable").reset_index(drop=True)


def local_harm_reference(cells: pd.DataFrame, study_cells: int | None = None, k: int = 1) -> LocalHarmReference:
    """Neighbourhood harm of the study grid's cells (for :func:`score_stores`; cache it per run).

    Parameters
    ----------
    cells : pandas.DataFrame
        ``cell`` (uint64) and ``harm`` (>= 0) of the scoring run (cells not listed have no harm).
    study_cells : int, optional
        Number of cells in the study grid (run metadata ``grid.cells``); default: the cells
        within ``k`` rings of a cell with harm.
    k : int
        Rings of the neighbourhood (1: the cell and its six neighbours).
    """
    frame = _cell_frame(cells, ("cell", "harm"), "the cell table")
    harm = frame["harm"].to_numpy(dtype="float64")
    if not np.isfinite(harm).all() or (harm < 0).any():
        raise ConfigError("cell harm must be finite and non-negative", given="cell table", fix="check the run")
    ids = frame["cell"].to_numpy(dtype=np.uint64)
    positive = ids[harm > 0]
    near = (np.unique(np.asarray(h3ronpy.grid_disk(positive, k, flatten=True), dtype=np.uint64))
            if positive.size else np.empty(0, dtype=np.uint64))
    sums = np.sort(_ring_sums(near, ids, harm, k))
    return LocalHarmReference(ids, harm, sums, max(int(study_cells or 0), int(sums.size)), k)


def local_harm_percentile(store_cells: np.ndarray, reference: LocalHarmReference) -> np.ndarray:
    """Percentile (0-100) of each store cell's neighbourhood harm: share of grid cells with less."""
    store_cells = np.asarray(store_cells, dtype=np.uint64)
    x = _ring_sums(store_cells, reference.cells, reference.harm, reference.k)
    zeros = reference.n_cells - reference.ring_sums.size
    below = np.searchsorted(reference.ring_sums, x, side="left") + np.where(x > 0, zeros, 0)
    return np.where(reference.n_cells > 0, 100.0 * below / max(reference.n_cells, 1), 0.0)


def local_harm_component(pct) -> np.ndarray:
    """Turn percentiles into the 0-1 local harm component: ``log10(100 / q) / 3`` with ``q = 100 - pct``.

    ``q`` is the store's "top q %" (at least 0.1): top 10 % gives 1/3, top 1 % 2/3,
    top 0.1 % 1; the bottom of the grid 0.  A log scale, because stores sit where
    people and crime are: most are in the top few per cent of the grid.
    """
    top = np.maximum(100.0 - np.asarray(pct, dtype="float64"), 0.1)
    return np.clip(np.log10(100.0 / top) / 3.0, 0.0, 1.0)


def window_bounds(labels) -> tuple[np.datetime64, np.datetime64]:
    """First and last month of a run's period labels ("2024-01", "2024-Q1", "2024-H2", "2023-04..2024-03")."""
    labels = [str(label) for label in labels]
    if not labels:
        raise ConfigError("the run has no periods", given="[]", fix="re-run harmmap score")
    return _label_months(labels[0])[0], _label_months(labels[-1])[1]


def _label_months(label: str) -> tuple[np.datetime64, np.datetime64]:
    try:
        if ".." in label:
            first, last = label.split("..")
            return np.datetime64(first, "M"), np.datetime64(last, "M")
        year, part = label.split("-")
        if part[0] in "QH":
            size = 3 if part[0] == "Q" else 6
            start = np.datetime64(f"{year}-01", "M") + (int(part[1:]) - 1) * size
            return start, start + size - 1
        return np.datetime64(label, "M"), np.datetime64(label, "M")
    except (ValueError, IndexError):
        raise ConfigError("unknown period label", given=label, fix="labels look like 2024-01, 2024-Q1 or 2024-H1"
                          ) from None


def own_incident_counts(own: pd.DataFrame | None, store_ids, window) -> pd.DataFrame:
    """Own incidents per store in the window, the last six months and the six before.

    Parameters
    ----------
    own : pandas.DataFrame or None
        ``store_id`` and ``month`` of the organisation's counted incidents (other rows ignored).
    store_ids : sequence of str
    window : (first month, last month)
        datetime64[M] bounds, both included.

    Returns
    -------
    pandas.DataFrame
        Indexed by store id: ``own_incidents``, ``own_recent``, ``own_previous``, ``rate_year``, ``own_rising``.
    """
    first, last = (np.datetime64(w, "M") for w in window)
    months = int((last - first).astype(int)) + 1
    half = min(RISING_MONTHS, months // 2)
    index = pd.Index(pd.unique(pd.Series(list(store_ids), dtype=object).astype(str)), name="store_id")
    out = pd.DataFrame(0, index=index, columns=["own_incidents", "own_recent", "own_previous"], dtype="int64")
    if own is not None and len(own):
        month = pd.to_datetime(own["month"]).to_numpy().astype("datetime64[M]")
        inside = (month >= first) & (month <= last) & own["store_id"].notna().to_numpy()
        frame = pd.DataFrame({"store_id": own["store_id"].astype(str).to_numpy()[inside],
                              "age": (last - month[inside]).astype(int)})
        for column, keep in (("own_incidents", np.ones(len(frame), bool)), ("own_recent", frame["age"] < half),
                             ("own_previous", (frame["age"] >= half) & (frame["age"] < 2 * half))):
            counts = frame.loc[keep].groupby("store_id").size()
            out[column] = counts.reindex(index, fill_value=0).to_numpy(dtype="int64")
    out["rate_year"] = out["own_incidents"] * 12.0 / months
    out["own_rising"] = (half > 0) & (out["own_recent"] >= RISING_MIN) & (
        out["own_recent"] > RISING_RATIO * out["own_previous"])
    return out


def _own_months(own: pd.DataFrame | None) -> tuple[np.datetime64, np.datetime64]:
    """The first and last month of the own incidents (any one month when there are none)."""
    if own is None or not len(own):
        return np.datetime64("2000-01", "M"), np.datetime64("2000-01", "M")
    months = pd.to_datetime(own["month"]).to_numpy().astype("datetime64[M]")
    return months.min(), months.max()


def _lookup(frame: pd.DataFrame | None, cells: np.ndarray, column: str, default):
    if frame is None or not len(frame):
        return np.full(cells.size, default, dtype=object if isinstance(default, str) else type(default))
    table = _cell_frame(frame, ("cell", column), f"the {column} table")
    ids = table["cell"].to_numpy(dtype=np.uint64)
    at = np.minimum(np.searchsorted(ids, cells), ids.size - 1)
    return np.where(ids[at] == cells, table[column].to_numpy()[at], default)


def _reasons(pct, gi_bin, trend, own) -> list[tuple[str, ...]]:
    local = np.select([pct >= t for t, _ in LOCAL_HARM_CODES], [c for _, c in LOCAL_HARM_CODES], "")
    hot = np.array([HOT_SPOT_CODES.get(int(b), "") for b in gi_bin], dtype=object)
    trend_code = pd.Series(trend, dtype=object).map(TREND_CODES).fillna("").to_numpy(dtype=object)
    high = np.where(own["rate_year"].to_numpy() >= OWN_HALF_RATE, "OWN_INCIDENTS_HIGH", "")
    rising = np.where(own["own_rising"].to_numpy(), "OWN_INCIDENTS_RISING", "")
    return [tuple(code for code in row if code) for row in zip(local, hot, trend_code, high, rising)]


def score_stores(stores: pd.DataFrame, cells: pd.DataFrame, trend_cells: pd.DataFrame | None = None,
                 own: pd.DataFrame | None = None, *, window=None, study_cells: int | None = None,
                 reference: LocalHarmReference | None = None, k: int = 1) -> pd.DataFrame:
    """Score every store (see the module notes for the method).

    Parameters
    ----------
    stores : pandas.DataFrame
        ``store_id`` and ``cell`` (uint64, at the scoring run's resolution); one row per store.
    cells : pandas.DataFrame
        The scoring run's cells: ``cell``, ``harm``, ``gi_bin``.
    trend_cells : pandas.DataFrame, optional
        The trends run's cells: ``cell``, ``emerging_class`` (none: trend component 0).
    own : pandas.DataFrame, optional
        The organisation's own counted incidents: ``store_id``, ``month``.
    window : (first month, last month), optional
        The scoring window (see :func:`window_bounds`); default: the months of ``own``.
    study_cells : int, optional
        Size of the study grid (see :func:`local_harm_reference`).
    reference : LocalHarmReference, optional
        Precomputed from ``cells`` (saves recomputing it for every organisation).

    Returns
    -------
    pandas.DataFrame
        :data:`RESULT_COLUMNS`, one row per store, sorted by store id.
    """
    if "store_id" not in stores or "cell" not in stores:
        raise SchemaError("stores need store_id and cell", given=list(stores.columns), fix="pass both columns")
    ids = stores["store_id"].astype(str).to_numpy(dtype=object)
    if pd.Series(ids).duplicated().any():
        raise SchemaError("a store id appears twice", given=int(pd.Series(ids).duplicated().sum()),
                          fix="pass one row per store")
    order = np.argsort(ids, kind="stable")
    ids, store_cells = ids[order], stores["cell"].to_numpy(dtype=np.uint64)[order]
    reference = reference or local_harm_reference(cells, study_cells, k)
    pct = np.floor(local_harm_percentile(store_cells, reference) * 10.0) / 10.0  # as shown: reasons agree
    gi_bin = _lookup(cells, store_cells, "gi_bin", 0).astype("int64")
    trend = _lookup(trend_cells, store_cells, "emerging_class", "no_pattern").astype(object)
    counts = own_incident_counts(own, ids, window if window is not None else _own_months(own)).reindex(ids)
    parts = {"local_harm": local_harm_component(pct), "hot_spot": np.clip(gi_bin, 0, 3) / 3.0,
             "trend": pd.Series(trend, dtype=object).map(TREND_RISK).fillna(0.0).to_numpy(dtype="float64"),
             "own_incidents": (counts["rate_year"] / (counts["rate_year"] + OWN_HALF_RATE)).to_numpy(),
             "own_rising": counts["own_rising"].to_numpy(dtype="float64")}
    score = np.round(sum(WEIGHTS[name] * value for name, value in parts.items()), 1)
    band = np.where(score >= HIGH_FROM, "high", np.where(score >= MEDIUM_FROM, "medium", "low"))
    return pd.DataFrame({
        "store_id": ids, "score": score, "band": band, "reasons": _reasons(pct, gi_bin, trend, counts),
        "local_harm_pct": pct, "gi_bin": gi_bin, "emerging_class": trend,
        "own_incidents": counts["own_incidents"].to_numpy(), "own_recent": counts["own_recent"].to_numpy(),
        "own_previous": counts["own_previous"].to_numpy(), "own_rising": counts["own_rising"].to_numpy(dtype=bool),
        "c_local_harm": parts["local_harm"], "c_hot_spot": parts["hot_spot"], "c_trend": parts["trend"],
        "c_own_incidents": parts["own_incidents"]}, columns=list(RESULT_COLUMNS))


__all__ = ["BANDS", "HIGH_FROM", "LocalHarmReference", "MEDIUM_FROM", "REASONS", "RESULT_COLUMNS", "TREND_RISK",
           "WEIGHTS", "local_harm_component", "local_harm_percentile", "local_harm_reference", "own_incident_counts",
           "score_stores", "window_bounds"]
