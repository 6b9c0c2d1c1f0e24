"""Score a workspace: incidents and places from the store -> ScoringResult -> persisted run."""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from harmmap.errors import ConfigError
from harmmap.geo.cells import cells_to_parents
from harmmap.geo.join import points_to_places
from harmmap.geo.study_area import places_to_cells, study_area_cells
from harmmap.scoring.pipeline import ScoringInputs, ScoringSettings, score
from harmmap.scoring.result import ScoringResult
from harmmap.store.assign import place_tolerance
from harmmap.store.incidents import read_incidents
from harmmap.store.places import load_places, load_stores
from harmmap.store.results import save_result
from harmmap.store.workspace import Workspace, connect, workspace_resolution
from harmmap.weights import load_harm_weights

COMPARE_WEIGHTS = ("cchi", "css", "count")
_MONTH = re.compile(r"(19|20)\d\d-(0[1-9]|1[0-2])")
_COLUMNS = ["cell", "month", "crime_type", "offence", "injury", "weapon", "value_gbp", "easting", "northing"]


@dataclass(frozen=True, slots=True)
class ScoredRun:
    """A persisted run: its id, the result, and seconds spent per step."""

    run_id: str
    result: ScoringResult
    timings: dict[str, float]


def _check_resolution(ws: Workspace, resolution: int) -> int:
    base = workspace_resolution(ws)
    if not isinstance(resolution, int) or not 0 <= resolution <= base:
        raise ConfigError(f"the scoring resolution must be between 0 and the workspace's base resolution {base}",
                          given=repr(resolution), fix=f"use --resolution {base} or coarser (smaller)")
    return base


def _vintage(ws: Workspace) -> dict:
    """Which data the run saw: active files per source, months, and a fingerprint of the active segments."""
    with contextlib.closing(connect(ws)) as conn:
        rows = conn.execute(
            "SELECT f.source, count(DISTINCT f.file_id), min(s.month_min), max(s.month_max), max(f.ingested_at),"
            " sum(s.rows) FROM segments s JOIN files f USING (file_id) WHERE s.active = 1 GROUP BY f.source"
            " ORDER BY f.source").fetchall()
        keys = [r[0] for r in conn.execute(
            "SELECT path || '#' || partition_key FROM segments WHERE active = 1 ORDER BY 1")]
    sources = [{"source": s, "files": f, "first_month": a, "last_month": b, "last_ingested_at": t, "rows": n}
               for s, f, a, b, t, n in rows]
    return {"sources": sources, "fingerprint": hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]}


def resolve_window(ws: Workspace, text: str | None) -> tuple[str, str] | None:
    """Turn ``"2024-01..2024-12"``, ``"2024-06"`` or ``"last-6"`` (months up to the latest with data) into a window."""
    if text is None or text == "all":
        return None
    if text.startswith("last-"):
        count = text[5:]
        if not count.isdigit() or int(count) < 1:
            raise ConfigError("bad window", given=text, fix="use last-N with N months, e.g. last-6")
        latest = max((s["last_month"] for s in _vintage(ws)["sources"] if s["last_month"]), default=None)
        if latest is None:
            raise ConfigError("the workspace has no incidents to take the last months of", given=text,
                              fix="ingest data first")
        end = np.datetime64(latest[:7], "M")
        return str(end - np.timedelta64(int(count) - 1, "M")), str(end)
    parts = text.split("..")
    if len(parts) > 2 or not all(_MONTH.fullmatch(part) for part in parts):
        raise ConfigError("bad window", given=repr(text),
                          fix="use YYYY-MM, YYYY-MM..YYYY-MM (first..last, both included), last-N or all")
    first, last = parts[0], parts[-1]
    if last < first:
        raise ConfigError("the window ends before it starts", given=text, fix=f"use {last}..{first}")
    return first, last


def _store_counts(places: pd.DataFrame, stores: pd.DataFrame, tolerance: float) -> np.ndarray:
    if places.empty or stores.empty:
        return np.zeros(len(places), dtype=np.int64)
    hits = points_to_places(stores["easting"].to_numpy(float), stores["northing"].to_numpy(float), places,
                            tolerance_m=tolerance)
    index = pd.Index(places["place_id"].astype(str)).get_indexer(hits["place_id"].astype(str))
    return np.bincount(index, minlength=len(places)).astype(np.int64)


def load_inputs(ws: Workspace, settings: ScoringSettings, *, study_area: str = "buffer", rings: int | None = None,
                kinds: Sequence[str] | None = None, compare: Sequence[str] = COMPARE_WEIGHTS,
                timings: dict[str, float] | None = None) -> ScoringInputs:
    """Read everything a run needs from the workspace into :class:`ScoringInputs`."""
    timings = {} if timings is None else timings
    clock = time.perf_counter()
    base = _check_resolution(ws, settings.resolution)
    weights = {name: load_harm_weights(name) for name in dict.fromkeys([settings.weights, *compare])}
    incidents = read_incidents(ws, _COLUMNS)
    if settings.resolution < base:
        incidents["cell"] = cells_to_parents(incidents["cell"].to_numpy(np.uint64), settings.resolution)
    timings["read"] = time.perf_counter() - clock
    clock = time.perf_counter()
    places = load_places(ws, list(kinds) if kinds else None)
    tolerance = place_tolerance(ws)
    hits = points_to_places(incidents["easting"].to_numpy(float), incidents["northing"].to_numpy(float), places,
                            tolerance_m=tolerance) if len(places) else pd.DataFrame({"point_index": [], "place_id": []})
    place_index = pd.Index(places["place_id"].astype(str)).get_indexer(hits["place_id"].astype(str))
    cell_places, place_cells = places_to_cells(places, settings.resolution)
    frame = pd.DataFrame(places.drop(columns="geometry")).reset_index(drop=True)
    frame["stores"] = _store_counts(places, load_stores(ws), tolerance)
    timings["places"] = time.perf_counter() - clock
    clock = time.perf_counter()
    grid_rings = max(2, max(settings.candidate_ks) if settings.k is None else settings.k) if rings is None else rings
    study = study_area_cells(study_area, incident_cells=incidents["cell"].to_numpy(np.uint64), places=places,
                             place_cells=(cell_places, place_cells), rings=grid_rings)
    timings["study_area"] = time.perf_counter() - clock
    context = {"vintage": _vintage(ws), "study_area": {"method": study_area, "rings": grid_rings,
                                                        "place_kinds": list(kinds) if kinds else "all"},
               "place_tolerance_m": tolerance}
    return ScoringInputs(incidents=incidents, pair_rows=hits["point_index"].to_numpy(np.int64),
                         pair_places=place_index.astype(np.int64), places=frame, place_cell_places=cell_places,
                         place_cells=place_cells, study_cells=study, weights=weights, context=context)


def score_workspace(ws: Workspace, settings: ScoringSettings, *, study_area: str = "buffer",
                    rings: int | None = None, kinds: Sequence[str] | None = None,
                    compare: Sequence[str] = COMPARE_WEIGHTS,
                    progress: Callable[[str], None] | None = None) -> ScoredRun:
    """Score the workspace's counted incidents and persist the run; return it with step timings."""
    say = progress or (lambda _message: None)
    timings: dict[str, float] = {}
    say("reading incidents and places")
    inputs = load_inputs(ws, settings, study_area=study_area, rings=rings, kinds=kinds, compare=compare,
                         timings=timings)
    say(f"scoring {len(inputs.incidents):,} incidents on {inputs.study_cells.size:,} cells")
    clock = time.perf_counter()
    result = score(inputs, settings)
    timings["score"] = time.perf_counter() - clock
    clock = time.perf_counter()
    run_id = save_result(ws, result, settings.to_dict() | {"study_area": study_area, "rings": rings,
                                                           "kinds": list(kinds) if kinds else None,
                                                           "compare": list(compare)})
    timings["save"] = time.perf_counter() - clock
    return ScoredRun(run_id, result, timings)
