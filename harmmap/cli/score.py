"""``harmmap score``, ``harmmap rank`` and ``harmmap runs``."""

from __future__ import annotations

import sys

import click
import numpy as np
import pandas as pd

from harmmap.cli.output import emit_json
from harmmap.errors import ConfigError

RANK_FIELDS = {
    "cells": ["rank", "cell", "name", "harm", "incidents", "gi_z", "gi_p", "gi_p_rand", "gi_p_sim", "gi_q", "gi_bin",
              "moran_class", "rank_low", "rank_high", "p_top_n"],
    "places": ["rank", "place_id", "name", "kind", "code", "harm", "incidents", "harm_per_km2", "stores",
               "harm_per_store", "gi_z", "gi_p", "gi_p_rand", "gi_q", "gi_bin", "hot_cells", "rank_low",
               "rank_high", "p_top_n"],
}


def _k(text: str) -> int | None:
    if text == "auto":
        return None
    if not text.isdigit():
        raise ConfigError("--k must be a number of H3 rings or 'auto'", given=text, fix="use e.g. --k 1 or --k auto")
    return int(text)


@click.command("score")
@click.option("--resolution", type=click.IntRange(0, 15), help="H3 resolution (default: the workspace's).")
@click.option("--k", "k_text", default="1", show_default=True, help="Neighbourhood in H3 rings, or 'auto'.")
@click.option("--period", type=click.Choice(["month", "quarter", "half", "all"]), default="quarter",
              show_default=True, help="Breakdown of the per-period table.")
@click.option("--window", help="Months scored: 2024-01..2024-12, 2024-06, last-6, or all (default).")
@click.option("--weights", default="cchi", show_default=True, help="cchi, css, count, or a TOML file.")
@click.option("--half-life", "half_life", type=click.FloatRange(min=0.1), help="Recency decay half-life in months.")
@click.option("--permutations", default=999, show_default=True, type=click.IntRange(0, 99_999))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--significance", type=click.Choice(["analytic", "randomisation", "conditional"]),
              default="analytic", show_default=True, help="p-values that give the Gi* bins (see README).")
@click.option("--draws", default=199_999, show_default=True, type=click.IntRange(0, 9_199_999),
              help="Random neighbourhoods of the randomisation test.")
@click.option("--fdr/--no-fdr", default=True, show_default=True, help="Benjamini-Hochberg correction of the bins.")
@click.option("--top-n", "top_n", default=20, show_default=True, type=click.IntRange(1))
@click.option("--study-area", "study_area", default="buffer", show_default=True,
              help="buffer (around the data), places, or kind:<kind>.")
@click.option("--rings", type=click.IntRange(0, 1000), help="Buffer width in rings (default: max(2, k)).")
@click.option("--kind", "kinds", multiple=True, help="Place kinds to rank (default: all).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def score_command(obj, resolution, k_text, period, window, weights, half_life, permutations, seed, significance, draws,
                  fdr, top_n, study_area, rings, kinds, as_json) -> None:
    """Weigh incidents by harm, test every cell and place (Gi*, Moran, FDR), rank them and save the run."""
    from harmmap.analysis.score import score_workspace, resolve_window
    from harmmap.scoring.pipeline import ScoringSettings
    from harmmap.store.workspace import open_workspace, workspace_resolution

    ws = open_workspace(obj["workspace"])
    settings = ScoringSettings(
        resolution=workspace_resolution(ws) if resolution is None else resolution, k=_k(k_text), period=period,
        window=resolve_window(ws, window), weights=weights, half_life_months=half_life, permutations=permutations,
        seed=seed, significance=significance, draws=draws, fdr=fdr, top_n=top_n)
    say = (lambda _m: None) if as_json else (lambda m: click.echo(m, err=True))
    run = score_workspace(ws, settings, study_area=study_area, rings=rings, kinds=kinds or None, progress=say)
    summary = summarise(run)
    emit_json(summary) if as_json else print_summary(summary, run.result)


def summarise(run) -> dict:
    """The JSON summary of a scoring run."""
    meta = run.result.metadata
    return {"run_id": run.run_id, "window": meta["window"], "resolution": meta["resolution"], "k": meta["k"],
            "k_choice": meta["k_choice"], "weights": meta["weights"], "totals": meta["totals"], "grid": meta["grid"],
            "global_moran": meta["global_moran"], "normal_approximation": meta["normal_approximation"],
            "significance": meta["settings"]["significance"], "concentration": meta["concentration"],
            "sensitivity": meta["sensitivity"], "timings_s": {k: round(v, 3) for k, v in run.timings.items()}}


def print_summary(summary: dict, result) -> None:
    """Print a run for people."""
    totals, grid, window = summary["totals"], summary["grid"], summary["window"]
    click.echo(f"run {summary['run_id']}: {totals['incidents']:,} incidents, {window['first']} to {window['last']}, "
               f"harm {totals['harm']:,.0f}")
    choice = summary["k_choice"]
    click.echo(f"grid: {grid['cells']:,} cells at resolution {summary['resolution']}, k={summary['k']}"
               + (f" ({choice['reason']})" if choice else ""))
    click.echo(f"hot spots (95 %+): {grid['hot_cells_95']:,} cells; cold spots: {grid['cold_cells_95']:,}")
    normal = summary["normal_approximation"]
    if summary["significance"] == "analytic" and not normal["adequate"]:
        click.echo(f"warning: only {normal['expected_incidents_per_neighbourhood']:.1f} incidents expected per "
                   "neighbourhood: analytic Gi* p-values overstate significance here; consider "
                   "--significance randomisation, a larger --k or a coarser --resolution", err=True)
    for name, info in summary["weights"].items():
        if info["unverified"]:
            click.echo(f"warning: weights '{name}' has {len(info['unverified'])} unverified entries "
                       "(see docs/harm_weights.md); its comparison is indicative only", err=True)
    for kind, frame in (("places", result.places), ("cells", result.cells)):
        if len(frame):
            click.echo(f"\ntop {kind}:")
            click.echo(_render(_rank_frame(kind, frame).head(10), "table"))


def _rank_frame(kind: str, frame: pd.DataFrame) -> pd.DataFrame:
    from harmmap.geo.cells import cells_to_strings

    out = frame.copy()
    if kind == "cells":
        out["cell"] = cells_to_strings(out["cell"].to_numpy(np.uint64))
        out["name"] = out["places"]
    return out[[c for c in RANK_FIELDS[kind] if c in out.columns]]


def _render(frame: pd.DataFrame, fmt: str) -> str:
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "json":
        return frame.to_json(orient="records", indent=2, double_precision=10)
    return frame.to_string(index=False, float_format=lambda v: f"{v:.4g}")


@click.command("rank")
@click.argument("what", type=click.Choice(["cells", "places"]))
@click.option("--top", "top", default=20, show_default=True, type=click.IntRange(1))
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--kind", help="Only places of this kind.")
@click.option("--hot-only", is_flag=True, help="Only Gi* hot spots (bin >= 2).")
@click.option("--run", "run_id", help="A run id (default: the latest; see `harmmap runs`).")
@click.pass_obj
def rank_command(obj, what, top, fmt, kind, hot_only, run_id) -> None:
    """Print the ranking of cells or places from a scoring run."""
    from harmmap.store.results import load_result
    from harmmap.store.workspace import open_workspace

    run, tables = load_result(open_workspace(obj["workspace"]), run_id, tables=(what,))
    frame = tables[what]
    if kind and what == "places":
        frame = frame[frame["kind"] == kind]
    if hot_only:
        frame = frame[frame["gi_bin"] >= 2]
    sys.stdout.write(_render(_rank_frame(what, frame.sort_values("rank").head(top)), fmt).rstrip("\n") + "\n")


def _window_text(metadata: dict) -> str:
    if "window" in metadata:
        return f"{metadata['window'].get('first', '')}..{metadata['window'].get('last', '')}"
    periods = metadata.get("periods") or [""]
    return f"{periods[0]}..{periods[-1]}"


@click.command("runs")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def runs_command(obj, as_json) -> None:
    """List the scoring and trends runs of the workspace, newest first."""
    from harmmap.store.results import list_runs, run_kind
    from harmmap.store.workspace import open_workspace

    runs = list_runs(open_workspace(obj["workspace"]))
    rows = [{"run_id": r.run_id, "kind": run_kind(r), "created_at": r.created_at, "incidents": r.incidents,
             "cells": r.cells, "places": r.places, "weights": r.settings.get("weights"),
             "k": r.metadata.get("k", r.settings.get("k")), "window": _window_text(r.metadata)} for r in runs]
    if as_json:
        emit_json(rows)
    else:
        click.echo(pd.DataFrame(rows).to_string(index=False) if rows else "no runs yet")


COMMANDS = [score_command, rank_command, runs_command]
