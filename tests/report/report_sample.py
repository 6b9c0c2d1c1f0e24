"""A small hand-made assessment shared by the report tests (not a test module)."""

from __future__ import annotations

from datetime import datetime

import h3
import numpy as np
import pandas as pd
import shapely

from harmmap.report.model import Assessment, Boundary, MapLayer, ReportTable, Section, Series
from harmmap.report.palettes import EMERGING_ORDER, EMERGING_PALETTE, GI_ORDER, GI_PALETTE

LEICESTER = (52.636, -1.133)
HOSTILE = "Leicester <script>alert('x')</script> & \"Co\""
CENTRE = h3.latlng_to_cell(*LEICESTER, 8)


def sample_cells(rings: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Cells around Leicester (res 8) and their ring distance from the centre."""
    distances = {cell: d for d in range(rings + 1) for cell in h3.grid_ring(CENTRE, d)}
    names = sorted(distances)
    cells = np.array([h3.str_to_int(c) for c in names], dtype="uint64")
    return cells, np.array([distances[c] for c in names])


def emerging_layer() -> MapLayer:
    cells, ring = sample_cells()
    classes = np.array(["Intensifying Hot Spot", "Persistent Hot Spot", "New Hot Spot", "No Pattern Detected"],
                       dtype=object)[ring]
    classes[(ring == 3) & (np.arange(len(ring)) % 3 == 0)] = "Sporadic Cold Spot"
    return MapLayer("Emerging hot spots", cells, classes, EMERGING_PALETTE, EMERGING_ORDER,
                    note="Classes follow ArcGIS Pro's Emerging Hot Spot Analysis.")


def gi_layer() -> MapLayer:
    cells, ring = sample_cells()
    labels = np.array(GI_ORDER, dtype=object)[np.minimum(ring * 2, 6)]
    return MapLayer("Gi* hot and cold spots", cells, labels, GI_PALETTE, GI_ORDER)


def square_boundary(name: str = HOSTILE, half: float = 0.012) -> Boundary:
    lat, lng = LEICESTER
    return Boundary(name, shapely.box(lng - half * 1.6, lat - half, lng + half * 1.6, lat + half))


def places_table() -> ReportTable:
    frame = pd.DataFrame({
        "Rank": [1, 2, 3, 4, 5, 6],
        "Place": [HOSTILE, "Loughborough", "Hinckley", "Melton Mowbray", "Coalville", "Total"],
        "Incidents": [1234, 250, 12, 3, 7, 1506],
        "Harm (custody days)": [8123.4, 1500.25, 88.0, 21.0, 49.5, 9782.15],
        "Gi* z": [6.1, 3.2, 1.1, 0.4, -0.2, np.nan],
    })
    return ReportTable("Top places by harm", frame, count_columns=("Incidents",),
                       value_columns=("Harm (custody days)",), plain_columns=("Rank", "Gi* z"), total_row=True,
                       note="Harm weights: Cambridge Crime Harm Index.")


def classes_table() -> ReportTable:
    frame = pd.DataFrame({
        "Class": ["Intensifying Hot Spot", "Persistent Hot Spot", "New Hot Spot", "Sporadic Cold Spot"],
        "Cells": [1, 6, 12, 6],
        "Incidents": [5, 48, 9, 0],
    })
    return ReportTable("Cells by emerging class", frame, count_columns=("Incidents",), plain_columns=("Cells",))


def monthly_chart() -> Series:
    labels = ("2022-01", "2022-02", "2022-03", "2022-04", "2022-05", "2022-06")
    return Series("Monthly harm", labels,
                  {"Leicester": np.array([820, 760, 905, 990, 1010, 1100.0]),
                   "Loughborough": np.array([150, 170, 140, 160, 175, 190.0]),
                   "Forecast": np.array([np.nan, np.nan, np.nan, np.nan, 1000, 1080.0])},
                  y_label="Harm (custody days)",
                  counts={"Leicester": np.array([120, 110, 130, 140, 150, 160]),
                          "Loughborough": np.array([22, 25, 4, 24, 26, 30]),
                          "Forecast": np.array([0, 0, 0, 0, 150, 160])})


def sources_table() -> ReportTable:
    frame = pd.DataFrame({
        "Source": ["police.uk street-level crime", "Retailer incident reports", "ONS town centres"],
        "Covers": ["January 2021 to June 2022", "January to June 2022", "2022 boundaries"],
        "Rows used": [302_114, 4_812, 38],
        "Licence": ["Open Government Licence v3.0", "Shared under data-sharing agreement", "OGL v3.0"],
    })
    return ReportTable("Data sources", frame, plain_columns=("Rows used",))


def sample_assessment(marking: str = "OFFICIAL-SENSITIVE") -> Assessment:
    boundary = square_boundary()
    return Assessment(
        title="Retail crime assessment",
        period_label="January to June 2022",
        area_name="Leicestershire",
        generated_at=datetime(2022, 7, 14, 9, 30),
        summary_points=(
            f"Harm is concentrated: the top 1 % of cells hold 18 % of harm ({HOSTILE}).",
            "Three town centres are intensifying hot spots; none was a hot spot a year ago.",
            "The forecast model beats last period's map on PAI at 5 % coverage.",
        ),
        sections=(
            Section("Current picture", "Where harm is highest now.\n\nCounts under 10 are suppressed.",
                    maps=(gi_layer(),), tables=(places_table(),), boundaries=(boundary,)),
            Section("Emerging trends", "How hot spots changed over eighteen months.",
                    maps=(emerging_layer(),), tables=(classes_table(),), charts=(monthly_chart(),),
                    boundaries=(boundary,)),
        ),
        data_sources=sources_table(),
        method_notes=(("Harm index", "Each crime is weighted by the Cambridge Crime Harm Index "
                       "(Sherman et al. 2016, https://doi.org/10.1093/police/paw003)."),),
        marking=marking,
        prepared_by="Retail crime analysis team",
    )
