"""Turn scoring, trends and backtest results into the sections of the six-monthly assessment.

Every table declares which columns are counts (suppressed and rounded by the
renderer), values derived from counts (hidden with them) and plain statistics,
so :mod:`harmmap.report.render` applies small-count suppression uniformly.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from harmmap.geo.cells import cells_to_strings
from harmmap.privacy import suppress_counts
from harmmap.report.model import Boundary, MapLayer, ReportTable, Section, Series
from harmmap.report.palettes import (EMERGING_ORDER, EMERGING_PALETTE, GI_BIN_LABELS, GI_ORDER, GI_PALETTE,
                                     sequential_palette)
from harmmap.scoring.emerging import codes_to_names
from harmmap.scoring.forecast import DEFAULT_FORECASTER, MODEL_DESCRIPTIONS

TOP_PLACES = 15
TOP_CELLS = 10
CHART_PLACES = 5
_PREDICTED = ("Top 1 % of the area", "Top 1-5 % of the area")


def _boundaries(places) -> tuple[Boundary, ...]:
    return tuple(Boundary(str(name), geometry) for name, geometry in zip(places["name"], places.geometry)
                 if geometry is not None and not geometry.is_empty)


def _gi_label(bins: pd.Series) -> list[str]:
    return [GI_BIN_LABELS[int(b)] for b in bins]


def build_current(result, places, period, threshold: int) -> Section:
    """Current picture: top places and cells by harm, Gi* map, concentration."""
    ranked = result.places[result.places["incidents"] > 0].sort_values("rank").head(TOP_PLACES)
    place_table = ReportTable(
        f"Top {len(ranked)} places by harm, {period.name}",
        pd.DataFrame({"Rank": ranked["rank"].to_numpy(), "Place": ranked["name"].astype(str).to_numpy(),
                      "Incidents": ranked["incidents"].to_numpy(float), "Harm": ranked["harm"].to_numpy(),
                      "Harm per km²": ranked["harm_per_km2"].to_numpy(), "Gi* z": ranked["gi_z"].to_numpy(),
                      "Hot spot": _gi_label(ranked["gi_bin"])}),
        count_columns=("Incidents",), value_columns=("Harm", "Harm per km²"), plain_columns=("Rank", "Gi* z"),
        note="Harm: Cambridge Crime Harm Index (days of custody the offences would attract), "
             "summed over the incidents recorded in the place.")
    cells = result.cells.sort_values("rank").head(TOP_CELLS)
    cell_table = ReportTable(
        f"Top {len(cells)} H3 cells by harm",
        pd.DataFrame({"Rank": cells["rank"].to_numpy(), "Cell": cells_to_strings(cells["cell"].to_numpy(np.uint64)),
                      "Place": cells["places"].fillna("").astype(str).to_numpy(),
                      "Incidents": cells["incidents"].to_numpy(float), "Harm": cells["harm"].to_numpy(),
                      "Gi* z": cells["gi_z"].to_numpy(), "Hot spot": _gi_label(cells["gi_bin"])}),
        count_columns=("Incidents",), value_columns=("Harm",), plain_columns=("Rank", "Gi* z"))
    shown = result.cells[result.cells["gi_bin"] != 0]
    gi_map = MapLayer(f"Hot and cold spots of harm (Gi*, FDR), {period.name}", shown["cell"].to_numpy(np.uint64),
                      _gi_label(shown["gi_bin"]), GI_PALETTE, GI_ORDER,
                      note="Cells not shown are not significant. Significance after the Benjamini-Hochberg "
                           "false discovery rate correction.")
    concentration = result.metadata["concentration"]["cells"]
    shares = concentration["top_shares"]
    intro = (f"This section describes {period.name}. Harm is concentrated: the top 1 % of cells with any harm hold "
             f"{100 * shares['0.01']:.0f} % of it and the top 5 % hold {100 * shares['0.05']:.0f} % "
             f"(Gini {concentration['gini']:.2f}; generalised Gini {concentration['generalised_gini']:.2f}).")
    return Section("Current picture", intro, maps=(gi_map,), tables=(place_table, cell_table),
                   boundaries=_boundaries(places[places["place_id"].isin(ranked["place_id"])]))


def _class_table(frame: pd.DataFrame, unit: str) -> ReportTable:
    names = codes_to_names(frame["emerging_code"].to_numpy())
    counts = pd.Series(names).value_counts()
    order = [name for name in EMERGING_ORDER if name in counts.index]
    harm = frame.groupby(names)["harm_total"].sum()
    incidents = frame.groupby(names)["incidents_total"].sum()
    table = pd.DataFrame({"Class": order, unit: [int(counts[n]) for n in order],
                          "Incidents": [float(incidents[n]) for n in order], "Harm": [float(harm[n]) for n in order]})
    return ReportTable(f"{unit} by emerging class", table, count_columns=("Incidents",), value_columns=("Harm",),
                       plain_columns=(unit,), note="Incidents and harm over the whole trend window.")


def _recent_places(trends) -> pd.DataFrame:
    """Places with harm in the last six months, most harm first."""
    places = trends.places[trends.places["harm_recent"] > 0]
    return places.sort_values("harm_recent", ascending=False)


def _place_trend_table(trends) -> ReportTable:
    places = _recent_places(trends).head(TOP_PLACES)
    table = pd.DataFrame({
        "Place": places["name"].astype(str).to_numpy(),
        "Class": codes_to_names(places["emerging_code"].to_numpy()),
        "Incidents": places["incidents_recent"].to_numpy(float),
        "Harm": places["harm_recent"].to_numpy(),
        "Change on previous 6 months (%)": places["change_previous_pct"].to_numpy(),
        "Change on a year earlier (%)": places["change_year_pct"].to_numpy(),
        "Trend z": places["harm_trend_z"].to_numpy(),
        "Slope": places["harm_slope"].to_numpy()})
    return ReportTable(
        "Place trends: the last six months", table, count_columns=("Incidents",),
        value_columns=("Harm", "Change on previous 6 months (%)", "Change on a year earlier (%)", "Slope"),
        plain_columns=("Trend z",),
        note="Places with harm in the last six months, most first. Incidents and harm: the last six months. "
             "Changes compare harm totals with the six months before and the same months a year earlier ([x]: not "
             "covered by the data, or no harm then). Trend z: Mann-Kendall test of the monthly harm series "
             "(|z| > 1.96 is significant at 5 %). Slope: Sen's slope, harm per month.")


def _trend_chart(trends) -> Series:
    top = _recent_places(trends).head(CHART_PLACES)
    periods = trends.periods[trends.periods["kind"] == "place"]
    labels = tuple(trends.metadata["periods"])
    values, counts = {}, {}
    for place_id, name in zip(top["place_id"], top["name"]):
        rows = periods[periods["unit"] == place_id].set_index("period").reindex(labels)
        values[str(name)] = rows["harm"].to_numpy(float)
        counts[str(name)] = rows["incidents"].fillna(0).to_numpy(float)
    return Series("Monthly harm of the places with the most recent harm", labels, values,
                  y_label="Harm (CCHI days)", counts=counts,
                  note="Months with fewer than the suppression threshold of incidents are not drawn.")


def build_emerging(trends, places, threshold: int) -> Section:
    """Emerging trends: class map and tables of cells and places, place trend table and chart."""
    cells = trends.cells[trends.cells["emerging_code"] != 0]
    layer = MapLayer("Emerging hot and cold spots (ArcGIS classes)", cells["cell"].to_numpy(np.uint64),
                     codes_to_names(cells["emerging_code"].to_numpy()), EMERGING_PALETTE, EMERGING_ORDER,
                     note="Cells with no pattern are not drawn.")
    periods = trends.metadata["periods"]
    intro = (f"Emerging Hot Spot Analysis over {len(periods)} months ({periods[0]} to {periods[-1]}): every "
             "cell-month is tested with Gi* and each cell's series of results is classified into the 17 classes "
             "of ArcGIS Pro (new, consecutive, intensifying, persistent, diminishing, sporadic, oscillating, "
             "historical, their cold-spot mirrors, and no pattern).")
    tables = [_class_table(trends.cells, "Cells")]
    charts = ()
    if len(_recent_places(trends)):
        tables += [_class_table(trends.places, "Places"), _place_trend_table(trends)]
        charts = (_trend_chart(trends),)
    top = _recent_places(trends).head(TOP_PLACES)
    return Section("Emerging trends", intro, maps=(layer,), tables=tuple(tables), charts=charts,
                   boundaries=_boundaries(places[places["place_id"].isin(top["place_id"])]))


def _scorecard_table(scorecard) -> ReportTable:
    summary = scorecard.summary[scorecard.summary["metric"].isin(["hit_rate", "pai", "pei", "pei_star"])]
    summary = summary[summary["weighting"] == "harm"]
    text = {(m, c, metric): f"{mean:.2f} [{low:.2f}, {high:.2f}]"
            for m, c, metric, mean, low, high in summary[["method", "coverage", "metric", "mean", "low", "high"]]
            .itertuples(index=False)}
    rows = [{"Model": method.replace("_", " "), "Area flagged": f"{100 * coverage:g} %",
             **{label: text.get((method, coverage, metric), "[x]")
                for metric, label in (("hit_rate", "Hit rate"), ("pai", "PAI"), ("pei", "PEI"),
                                      ("pei_star", "PEI*"))}}
            for coverage in sorted(summary["coverage"].unique()) for method in summary["method"].unique()]
    return ReportTable(
        f"Backtest scorecard: {len(scorecard.origins)} rolling six-month windows (harm-weighted)", pd.DataFrame(rows),
        note="Mean and 95 % interval across windows (Newey-West, for overlapping windows). Hit rate: share of the "
             "next six months' harm in the flagged cells; PAI: hit rate / share of area; PEI: hit rate / best "
             "possible hit rate for that area.")


def build_predicted(trends, scorecard, comparison, n_cells: int, horizon: int) -> Section:
    """Predicted hotspots of the next six months and the backtest evidence for the forecast."""
    top1, top5 = max(1, math.ceil(0.01 * n_cells)), max(1, math.ceil(0.05 * n_cells))
    flagged = trends.cells[trends.cells["forecast_rank"] <= top5]
    category = np.where(flagged["forecast_rank"] <= top1, _PREDICTED[0], _PREDICTED[1])
    layer = MapLayer(f"Predicted hot spots, next {horizon} months ({DEFAULT_FORECASTER.replace('_', ' ')} model)",
                     flagged["cell"].to_numpy(np.uint64), category, sequential_palette(_PREDICTED[::-1]),
                     _PREDICTED, note=f"The {top5:,} cells (5 % of the study area) with the highest forecast harm.")
    tables = []
    if len(trends.places):
        top = trends.places[trends.places["forecast_harm"] > 0].sort_values("forecast_rank").head(TOP_PLACES)
        tables.append(ReportTable(
            f"Places with the highest forecast harm, next {horizon} months",
            pd.DataFrame({"Rank": top["forecast_rank"].to_numpy(), "Place": top["name"].astype(str).to_numpy(),
                          "Forecast harm": top["forecast_harm"].round(0).to_numpy(),
                          "Emerging class": codes_to_names(top["emerging_code"].to_numpy())}),
            plain_columns=("Rank", "Forecast harm"), decimals=0,
            note="A forecast is a model estimate, not a count of incidents."))
    intro = MODEL_DESCRIPTIONS[DEFAULT_FORECASTER]
    if scorecard is None:
        intro += "\n\nThe data are too short for a backtest of the forecast: treat it with caution."
    else:
        tables.append(_scorecard_table(scorecard))
        verdict = "beats" if comparison.beats_baseline else "does not beat"
        intro += (f"\n\nIn {comparison.windows} past windows the model {verdict} simply re-using the previous six "
                  f"months' map: PAI at 5 % of the area {comparison.method_mean:.2f} against "
                  f"{comparison.baseline_mean:.2f} (difference {comparison.difference_mean:+.2f}, 95 % interval "
                  f"{comparison.difference_low:+.2f} to {comparison.difference_high:+.2f}).")
    return Section("Predicted hot spots", intro, maps=(layer,), tables=tuple(tables))


def build_data_sources(context, period, trend_first: str) -> ReportTable:
    """One row per source: files, months available, rows, and which months the report used."""
    sources = context.get("vintage", {}).get("sources", [])
    frame = pd.DataFrame({
        "Source": [s["source"] for s in sources],
        "Files": [int(s["files"]) for s in sources],
        "Months in the workspace": [f"{s['first_month']} to {s['last_month']}" for s in sources],
        "Rows": [float(s["rows"]) for s in sources],
        "Ingested": [str(s["last_ingested_at"])[:10] for s in sources],
        "Months used": [f"{trend_first} to {period.last}"] * len(sources)})
    fingerprint = context.get("vintage", {}).get("fingerprint", "")
    return ReportTable("Data sources", frame, count_columns=("Rows",), plain_columns=("Files",),
                       note=f"Data fingerprint {fingerprint}. police.uk data: Open Government Licence v3.0.")


def build_method_notes(settings, scorecard) -> tuple[tuple[str, str], ...]:
    """Plain-English notes on each method, with references."""
    notes = [
        ("Harm", "Each incident is weighted by the Cambridge Crime Harm Index (Sherman, Neyroud & Neyroud 2016): "
                 "the days of imprisonment its offence would attract for a first offender. Anti-social behaviour "
                 "is excluded."),
        ("Hot spots", f"Getis-Ord Gi* (Getis & Ord 1992) on H3 resolution-{settings.resolution} cells, each cell's "
                      f"neighbourhood being the cells within {settings.k} ring(s); two-sided p-values with the "
                      "Benjamini-Hochberg false discovery rate correction, binned at 90, 95 and 99 % like ArcGIS."),
        ("Emerging hot spots", "The Gi* z-scores of every cell and month form a space-time cube compared with the "
                               "whole cube; a Mann-Kendall test (with tie correction) measures each cell's trend, "
                               "and the 17 classes follow the definitions of ArcGIS Pro's Emerging Hot Spot "
                               "Analysis (at least 90 % of months for persistent, intensifying, diminishing and "
                               "historical; trend significance 5 %)."),
        ("Forecast", MODEL_DESCRIPTIONS[DEFAULT_FORECASTER]),
    ]
    if scorecard is not None:
        notes.append(("Backtest", "Rolling origin: the model is fitted on the months before each origin only and "
                                  "scored on the six months after it, then the origin moves on a month. Hit rate, "
                                  "PAI (Chainey, Tompson & Uhlig 2008) and PEI are reported at 1, 5 and 10 % of "
                                  "the study area."))
    return tuple(notes)


def summarise_findings(current, trends, comparison, period, threshold: int, base: int) -> tuple[str, ...]:
    """Key findings for the first page (counts suppressed and rounded like the tables)."""
    totals = current.metadata["totals"]
    incidents = suppress_counts([totals["incidents"]], threshold=threshold, base=base).display[0]
    points = [f"{incidents} incidents were recorded in {period.name}, with a total harm of "
              f"{totals['harm']:,.0f} CCHI days." if totals["incidents"] >= threshold else
              f"Fewer than {threshold} incidents were recorded in {period.name}."]
    places = current.places.sort_values("rank")
    if len(places) and places["incidents"].iloc[0] >= threshold:
        points.append(f"The highest-harm place was {places['name'].iloc[0]} "
                      f"({100 * places['harm'].iloc[0] / max(totals['harm'], 1e-9):.0f} % of all harm).")
    classes = trends.metadata["place_classes"]
    rising = sum(classes.get(k, 0) for k in ("new_hot_spot", "consecutive_hot_spot", "intensifying_hot_spot"))
    if len(trends.places):
        persistent = classes.get("persistent_hot_spot", 0)
        points.append(f"Of {len(trends.places)} places, {rising} {'is' if rising == 1 else 'are'} a new, consecutive "
                      f"or intensifying hot spot and {persistent} {'is' if persistent == 1 else 'are'} a persistent "
                      "hot spot.")
    if comparison is not None:
        points.append(f"The forecast flags 5 % of the area expected to hold the most harm; in backtests it "
                      f"{'beat' if comparison.beats_baseline else 'did not beat'} last period's map "
                      f"(PAI {comparison.method_mean:.1f} vs {comparison.baseline_mean:.1f}).")
    return tuple(points)
