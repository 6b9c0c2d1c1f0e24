"""``harmmap trends``: emerging hotspots, place trends and forecasts."""

from __future__ import annotations

import click
import pandas as pd

from harmmap.cli.output import emit_json

PLACE_FIELDS = ["place_id", "name", "emerging_class", "hot_bins", "harm_recent", "change_previous_pct",
                "change_year_pct", "harm_trend_z", "harm_trend_p", "harm_slope", "forecast_harm", "forecast_rank"]


def trend_options(command):
    """The options shared by ``trends`` and ``backtest`` (grid, cube and forecaster)."""
    options = [
        click.option("--resolution", type=click.IntRange(0, 15), help="H3 resolution (default: the workspace's)."),
        click.option("--k", default=1, show_default=True, type=click.IntRange(1, 50), help="Neighbourhood in H3 rings."),
        click.option("--period", type=click.Choice(["month", "quarter", "half"]), default="month", show_default=True,
                     help="Time step of the cube."),
        click.option("--window", help="Months of the cube: 2022-01..2024-12, last-36, or all (default)."),
        click.option("--weights", default="cchi", show_default=True, help="cchi, css, count, or a TOML file."),
        click.option("--value", type=click.Choice(["harm", "count"]), default="harm", show_default=True,
                     help="What the cube sums."),
        click.option("--study-area", "study_area", default="buffer", show_default=True,
                     help="buffer (around the data), places, or kind:<kind>."),
        click.option("--rings", type=click.IntRange(0, 1000), help="Buffer width in rings."),
        click.option("--kind", "kinds", multiple=True, help="Place kinds (default: all)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def build_settings(ws, *, resolution, k, period, window, weights, value, **extra):
    """TrendSettings from CLI values (the window resolved against the workspace)."""
    from harmmap.analysis.score import resolve_window
    from harmmap.scoring.trend_run import TrendSettings
    from harmmap.store.workspace import workspace_resolution

    return TrendSettings(resolution=workspace_resolution(ws) if resolution is None else resolution, k=k,
                         period=period, window=resolve_window(ws, window), weights=weights, value=value, **extra)


@click.command("trends")
@trend_options
@click.option("--time-steps", "time_steps", default=0, show_default=True, type=click.IntRange(0, 120),
              help="Earlier periods in each bin's neighbourhood.")
@click.option("--global-window", "global_window", type=click.Choice(["cube", "slice"]), default="cube",
              show_default=True, help="Compare each bin with the whole cube or its own period.")
@click.option("--alpha", default=0.05, show_default=True, type=click.FloatRange(0.0001, 0.5))
@click.option("--trend-alpha", "trend_alpha", default=0.05, show_default=True, type=click.FloatRange(0.0001, 0.5))
@click.option("--fdr/--no-fdr", default=True, show_default=True)
@click.option("--forecaster", default="self_exciting", show_default=True, help="Forecasting model (see README).")
@click.option("--horizon", default=6, show_default=True, type=click.IntRange(1, 60), help="Periods to forecast.")
@click.option("--top", default=15, show_default=True, type=click.IntRange(1))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def trends_command(obj, resolution, k, period, window, weights, value, study_area, rings, kinds, time_steps,
                   global_window, alpha, trend_alpha, fdr, forecaster, horizon, top, as_json) -> None:
    """Classify emerging hotspots (17 ArcGIS classes), measure place trends, forecast; save the run."""
    from harmmap.analysis.trends import trend_workspace
    from harmmap.store.workspace import open_workspace

    ws = open_workspace(obj["workspace"])
    settings = build_settings(ws, resolution=resolution, k=k, period=period, window=window, weights=weights,
                              value=value, time_steps=time_steps, global_window=global_window, alpha=alpha,
                              trend_alpha=trend_alpha, fdr=fdr, forecaster=forecaster, horizon=horizon)
    say = (lambda _m: None) if as_json else (lambda m: click.echo(m, err=True))
    run = trend_workspace(ws, settings, study_area=study_area, rings=rings, kinds=kinds or None, progress=say)
    meta = run.result.metadata
    summary = {"run_id": run.run_id, "periods": [meta["periods"][0], meta["periods"][-1], len(meta["periods"])],
               "totals": meta["totals"], "cell_classes": meta["cell_classes"], "place_classes": meta["place_classes"],
               "forecast": meta["forecast"], "timings_s": {key: round(v, 3) for key, v in run.timings.items()}}
    if as_json:
        emit_json(summary)
        return
    first, last, count = summary["periods"]
    click.echo(f"run {run.run_id}: {meta['totals']['incidents']:,} incidents, {count} periods {first} to {last}")
    click.echo("cells by emerging class: " + ", ".join(f"{key} {n:,}" for key, n in meta["cell_classes"].items()))
    click.echo("places by emerging class: " + ", ".join(f"{key} {n:,}" for key, n in meta["place_classes"].items()))
    places = run.result.places
    if len(places):
        shown = places.sort_values(["forecast_rank"]).head(top)
        click.echo(f"\nplaces, by forecast harm over the next {horizon} periods:")
        click.echo(shown[PLACE_FIELDS].to_string(index=False, float_format=lambda v: f"{v:.4g}"))



def _coverages(text: str) -> tuple[float, ...]:
    from harmmap.errors import ConfigError

    try:
        values = tuple(float(part) / 100.0 for part in text.split(","))
    except ValueError:
        values = ()
    if not values or not all(0.0 < v <= 1.0 for v in values):
        raise ConfigError("--coverage must list percentages of the area", given=text, fix="use e.g. 1,5,10")
    return values


def scorecard(run, metrics=("hit_rate", "pai", "pei", "pei_star", "rri")) -> pd.DataFrame:
    """One row per model, weighting and coverage; one 'mean [low, high]' column per metric."""
    summary = run.result.summary
    summary = summary[summary["metric"].isin(metrics)].copy()
    summary["value"] = [f"{m:.3g} [{lo:.3g}, {hi:.3g}]" for m, lo, hi in summary[["mean", "low", "high"]].to_numpy()]
    table = summary.pivot_table(index=["weighting", "coverage", "method"], columns="metric", values="value",
                                aggfunc="first").reset_index()
    table["coverage"] = (table["coverage"] * 100).map(lambda v: f"{v:g} %")
    return table[["weighting", "coverage", "method", *[m for m in metrics if m in table.columns]]]


@click.command("backtest")
@trend_options
@click.option("--methods", help="Comma-separated forecasters (default: all).")
@click.option("--horizon", default=6, show_default=True, type=click.IntRange(1, 60), help="Test periods per window.")
@click.option("--min-train", "min_train", default=12, show_default=True, type=click.IntRange(1, 600))
@click.option("--step", default=1, show_default=True, type=click.IntRange(1, 60), help="Periods between origins.")
@click.option("--coverage", "coverage_text", default="1,5,10", show_default=True, help="Percent of the area flagged.")
@click.option("--out", type=click.Path(dir_okay=False), help="Also write every window's scores to this CSV.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def backtest_command(obj, resolution, k, period, window, weights, value, study_area, rings, kinds, methods, horizon,
                     min_train, step, coverage_text, out, as_json) -> None:
    """Rolling-origin backtest of the forecasters: hit rate, PAI, PEI, PEI*, RRI with 95 % intervals."""
    from dataclasses import asdict

    from harmmap.analysis.backtest import backtest_workspace
    from harmmap.store.workspace import open_workspace

    ws = open_workspace(obj["workspace"])
    settings = build_settings(ws, resolution=resolution, k=k, period=period, window=window, weights=weights,
                              value=value, horizon=horizon)
    say = (lambda _m: None) if as_json else (lambda m: click.echo(m, err=True))
    run = backtest_workspace(ws, settings, methods=methods.split(",") if methods else None, min_train=min_train,
                             step=step, coverages=_coverages(coverage_text), study_area=study_area, rings=rings,
                             progress=say)
    if out:
        run.result.windows.assign(origin_period=[run.periods[o] for o in run.result.windows["origin"]]).to_csv(
            out, index=False)
    labels = run.origin_labels()
    if as_json:
        emit_json({"windows": len(labels), "first_origin": labels[0], "last_origin": labels[-1],
                   "horizon": run.result.horizon, "cells": run.cells, "incidents": run.incidents,
                   "summary": run.result.summary.to_dict(orient="records"),
                   "comparisons": [asdict(c) for c in run.comparisons],
                   "timings_s": {key: round(v, 3) for key, v in run.timings.items()}})
        return
    click.echo(f"{len(labels)} windows, origins {labels[0]} to {labels[-1]}, horizon {run.result.horizon} periods, "
               f"{run.cells:,} cells, {run.incidents:,} incidents")
    click.echo(scorecard(run).to_string(index=False))
    for c in run.comparisons:
        verdict = "beats" if c.beats_baseline else "does NOT beat"
        click.echo(f"{c.method} {verdict} {c.baseline} on PAI at 5 % ({c.weighting}): {c.method_mean:.3g} vs "
                   f"{c.baseline_mean:.3g}, difference {c.difference_mean:+.3g} "
                   f"[{c.difference_low:+.3g}, {c.difference_high:+.3g}] over {c.windows} windows")


COMMANDS = [trends_command, backtest_command]
