"""Run the trends analysis on a workspace: incidents -> TrendResult -> persisted run."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

from harmmap.analysis.score import load_inputs
from harmmap.scoring.pipeline import ScoringInputs, ScoringSettings
from harmmap.scoring.trend_run import TrendResult, TrendSettings, analyse_trends
from harmmap.store.results import save_result
from harmmap.store.workspace import Workspace


@dataclass(frozen=True, slots=True)
class TrendRun:
    """A persisted trends run: its id, the result, and seconds spent per step."""

    run_id: str
    result: TrendResult
    timings: dict[str, float]


def load_trend_inputs(ws: Workspace, settings: TrendSettings, *, study_area: str = "buffer", rings: int | None = None,
                      kinds: Sequence[str] | None = None, timings: dict[str, float] | None = None) -> ScoringInputs:
    """Read the incidents, places and study grid a trends run needs (only its own harm table)."""
    scoring = ScoringSettings(resolution=settings.resolution, k=settings.k, weights=settings.weights)
    grid_rings = max(2, settings.k, settings.forecast_rings) if rings is None else rings
    return load_inputs(ws, scoring, study_area=study_area, rings=grid_rings, kinds=kinds, compare=(),
                       timings=timings)


def trend_workspace(ws: Workspace, settings: TrendSettings, *, study_area: str = "buffer", rings: int | None = None,
                    kinds: Sequence[str] | None = None, save: bool = True,
                    progress: Callable[[str], None] | None = None) -> TrendRun:
    """Analyse the workspace's trends and (unless ``save`` is False) persist the run."""
    say = progress or (lambda _message: None)
    timings: dict[str, float] = {}
    say("reading incidents and places")
    inputs = load_trend_inputs(ws, settings, study_area=study_area, rings=rings, kinds=kinds, timings=timings)
    say(f"building the space-time cube of {len(inputs.incidents):,} incidents on {inputs.study_cells.size:,} cells")
    clock = time.perf_counter()
    result = analyse_trends(inputs, settings)
    timings["trends"] = time.perf_counter() - clock
    run_id = ""
    if save:
        clock = time.perf_counter()
        run_id = save_result(ws, result, settings.to_dict() | {"study_area": study_area, "rings": rings,
                                                               "kinds": list(kinds) if kinds else None})
        timings["save"] = time.perf_counter() - clock
    return TrendRun(run_id, result, timings)
