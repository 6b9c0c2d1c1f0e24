"""Backtest the forecasters on a workspace's history (rolling origin, no leakage)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence


from harmmap.analysis.trends import load_trend_inputs
from harmmap.errors import ConfigError
from harmmap.scoring.accuracy import DEFAULT_COVERAGES
from harmmap.scoring.backtest import Backtest, Comparison, backtest, compare_to_baseline
from harmmap.scoring.forecast import DEFAULT_FORECASTER, FORECASTERS, cells_to_rings
from harmmap.scoring.trend_run import TrendSettings, build_cubes
from harmmap.store.workspace import Workspace


@dataclass(frozen=True, slots=True)
class BacktestRun:
    """A backtest of the cells of a workspace, with the default model against the previous-period map."""

    result: Backtest
    comparisons: tuple[Comparison, ...]
    periods: tuple[str, ...]
    cells: int
    incidents: int
    timings: dict[str, float]

    def origin_labels(self) -> list[str]:
        """Label of the first test period of each window."""
        return [self.periods[o] for o in self.result.origins]


def backtest_workspace(ws: Workspace, settings: TrendSettings, *, methods: Sequence[str] | None = None,
                       horizon: int | None = None, min_train: int = 12, step: int = 1,
                       coverages: Sequence[float] = DEFAULT_COVERAGES, study_area: str = "buffer",
                       rings: int | None = None, progress: Callable[[str], None] | None = None) -> BacktestRun:
    """Backtest ``methods`` (default: every forecaster) on the cells of the workspace.

    The cube covers ``settings.window``: data after its end are never read, so a
    backtest for an assessment cannot see the months it is assessing.
    """
    say = progress or (lambda _message: None)
    methods = tuple(methods or FORECASTERS)
    unknown = sorted(set(methods) - set(FORECASTERS))
    if unknown:
        raise ConfigError("unknown forecaster", given=", ".join(unknown), fix=f"use some of {sorted(FORECASTERS)}")
    horizon = settings.horizon if horizon is None else horizon
    timings: dict[str, float] = {}
    say("reading incidents")
    inputs = load_trend_inputs(ws, settings, study_area=study_area, rings=rings, timings=timings)
    clock = time.perf_counter()
    cubes = build_cubes(inputs, settings)
    spatial = cells_to_rings(inputs.study_cells, settings.forecast_rings)
    timings["cube"] = time.perf_counter() - clock
    n_periods = len(cubes.labels)
    if n_periods < min_train + horizon:
        raise ConfigError("too few periods for a backtest", given=f"{n_periods} periods",
                          fix=f"need at least min_train + horizon = {min_train + horizon}; "
                              "lower --min-train or --horizon, or widen --window")
    say(f"backtesting {len(methods)} models on {inputs.study_cells.size:,} cells x {n_periods} periods")
    clock = time.perf_counter()
    result = backtest(cubes.count, cubes.harm, methods=methods, horizon=horizon, min_train=min_train, step=step,
                      rings=spatial, coverages=coverages)
    timings["backtest"] = time.perf_counter() - clock
    comparisons = tuple(compare_to_baseline(result, DEFAULT_FORECASTER, "previous", coverage=0.05, weighting=w)
                        for w in ("harm", "count")
                        if DEFAULT_FORECASTER in methods and "previous" in methods and 0.05 in coverages)
    return BacktestRun(result, comparisons, cubes.labels, int(inputs.study_cells.size), int(cubes.count.sum()),
                       timings)
