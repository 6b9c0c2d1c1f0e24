"""What an assessment report holds: plain frozen records the analysis fills and the renderer draws.

The renderer, not the caller, applies small-count suppression (:mod:`harmmap.privacy`):
every numeric column of a :class:`ReportTable` must be declared as a count (suppressed
and rounded), a value derived from a count (hidden with it) or a plain number (ranks,
z-scores, p-values: published as they are), so no number reaches the page unchecked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import h3ronpy
import numpy as np
import pandas as pd
import shapely

from harmmap.errors import ConfigError, GeometryError
from harmmap.privacy import suppress_counts

_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")


def _fail(what: str, given: object, fix: str) -> None:
    raise ConfigError(what, given=given, fix=fix)


_NUMBER_KINDS = {"integer", "floating", "mixed-integer", "mixed-integer-float", "decimal", "complex"}


def _holds_numbers(column: pd.Series) -> bool:
    """True for numeric columns, and for object columns holding any number (a count can hide there)."""
    if pd.api.types.is_bool_dtype(column):
        return False
    if pd.api.types.is_numeric_dtype(column):
        return True
    return column.dtype == object and pd.api.types.infer_dtype(column, skipna=True) in _NUMBER_KINDS


@dataclass(frozen=True, slots=True, eq=False)
class ReportTable:
    """A table for the report.

    Attributes
    ----------
    title : str
    frame : pandas.DataFrame
        One row per line of the table, columns in display order; column names
        are the headings.  Text columns are printed as they are.
    count_columns : tuple of str
        True counts: the renderer hides 1 to threshold-1 and rounds the rest.
    value_columns : tuple of str
        Values derived from counts (harm, shares): hidden wherever the row's
        FIRST count column is hidden.  Needs at least one count column.
    plain_columns : tuple of str
        Other numeric columns published as they are (ranks, z-scores, p-values,
        slopes).  Declare them: an undeclared numeric column is an error.
    total_row : bool
        The last row is the total of the rows above (true counts).  Its counts
        are checked with :func:`harmmap.privacy.suppress_total` against the rows
        and its values are hidden if any value above is hidden.
    decimals : int
        Decimal places of value and plain float columns.
    note : str
        Printed under the table (source, caveats).
    """

    title: str
    frame: pd.DataFrame
    count_columns: tuple[str, ...] = ()
    value_columns: tuple[str, ...] = ()
    plain_columns: tuple[str, ...] = ()
    total_row: bool = False
    decimals: int = 1
    note: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.frame, pd.DataFrame):
            _fail("a report table needs a pandas DataFrame", type(self.frame).__name__, "pass frame=DataFrame")
        declared = self.count_columns + self.value_columns + self.plain_columns
        missing = [c for c in declared if c not in self.frame.columns]
        if missing:
            _fail(f"table {self.title!r} declares columns it does not have", missing,
                  "declare only columns of the frame")
        if len(set(declared)) != len(declared):
            _fail(f"table {self.title!r} declares a column twice", declared, "declare each column once")
        if self.value_columns and not self.count_columns:
            _fail(f"table {self.title!r} has value columns but no count column to suppress them by",
                  self.value_columns, "add the count behind the values to count_columns")
        undeclared = [c for c in self.frame.columns if c not in declared and _holds_numbers(self.frame[c])]
        if undeclared:
            _fail(f"table {self.title!r} has numeric columns not declared as counts, values or plain",
                  undeclared, "list each in count_columns, value_columns or plain_columns")
        if self.total_row and len(self.frame) < 2:
            _fail(f"table {self.title!r} has total_row=True but fewer than two rows", len(self.frame),
                  "add the rows above the total, or set total_row=False")


def _check_cells(title: str, cells: np.ndarray) -> None:
    valid = np.asarray(h3ronpy.cells_valid(cells, booleanarray=True))
    if not valid.all():
        _fail(f"map {title!r} has values that are not H3 cells", cells[~valid][:3].tolist(),
              "pass H3 cell ids as uint64")
    if np.unique(np.asarray(h3ronpy.cells_resolution(cells))).size > 1:
        _fail(f"map {title!r} mixes H3 resolutions", "several", "convert the cells to one resolution")
    if np.unique(cells).size != cells.size:
        _fail(f"map {title!r} lists a cell more than once", int(cells.size - np.unique(cells).size),
              "give each cell one category")


@dataclass(frozen=True, slots=True, eq=False)
class MapLayer:
    """H3 cells coloured by category.

    Attributes
    ----------
    title : str
    cells : numpy.ndarray of uint64
        H3 cell ids, each once, all of one resolution.
    category : numpy.ndarray of str
        The class of each cell; each must appear in ``legend_order``.
    palette : Mapping of str to str
        Class to ``#rgb`` / ``#rrggbb`` colour (see :mod:`harmmap.report.palettes`).
    legend_order : tuple of str
        Classes in legend order; classes with no cell are still listed.
    note : str
    """

    title: str
    cells: np.ndarray
    category: np.ndarray
    palette: Mapping[str, str]
    legend_order: tuple[str, ...]
    note: str = ""

    def __post_init__(self) -> None:
        cells = np.asarray(self.cells, dtype="uint64")
        category = np.asarray(self.category, dtype=object).astype(str)
        object.__setattr__(self, "cells", cells)
        object.__setattr__(self, "category", category)
        if cells.ndim != 1 or category.shape != cells.shape:
            _fail(f"map {self.title!r} needs one category per cell", (cells.shape, category.shape),
                  "pass equal-length 1-D arrays")
        if cells.size:
            _check_cells(self.title, cells)
        unknown = sorted(set(np.unique(category).tolist()) - set(self.legend_order))
        if unknown:
            _fail(f"map {self.title!r} has categories missing from legend_order", unknown[:5],
                  "add them to legend_order")
        bad = [k for k in self.legend_order if not _COLOUR.fullmatch(str(self.palette.get(k, "")))]
        if bad:
            _fail(f"map {self.title!r} needs a #rrggbb colour for every legend entry", bad[:5],
                  "use harmmap.report.palettes")


@dataclass(frozen=True, slots=True, eq=False)
class Boundary:
    """A named outline (town centre, force area) in WGS84 longitude/latitude."""

    name: str
    geometry: shapely.Geometry

    def __post_init__(self) -> None:
        if not isinstance(self.geometry, (shapely.Polygon, shapely.MultiPolygon)) or self.geometry.is_empty:
            raise GeometryError(f"boundary {self.name!r} must be a non-empty Polygon or MultiPolygon",
                                given=getattr(self.geometry, "geom_type", type(self.geometry).__name__),
                                fix="pass the shapely geometry in WGS84 (x = longitude, y = latitude)")


@dataclass(frozen=True, slots=True, eq=False)
class Series:
    """Lines (or bars) over shared labels.

    Attributes
    ----------
    title : str
    labels : tuple of str
        The x positions (periods) or bar names.
    values : Mapping of str to numpy.ndarray
        One array per line, aligned with ``labels``; NaN is a gap.
    y_label : str
    kind : str
        ``"line"`` or ``"bar"`` (horizontal bars of the first series).
    counts : Mapping of str to numpy.ndarray, optional
        The true count behind each point; points whose count is suppressed are
        not drawn.  Give it whenever the values come from small areas.
    note : str
    """

    title: str
    labels: tuple[str, ...]
    values: Mapping[str, np.ndarray]
    y_label: str = ""
    kind: str = "line"
    counts: Mapping[str, np.ndarray] | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("line", "bar"):
            _fail("chart kind must be 'line' or 'bar'", self.kind, "use kind='line' or kind='bar'")
        if not self.values or not self.labels:
            _fail(f"chart {self.title!r} needs labels and at least one series", len(self.values), "add values")
        values = {str(k): np.asarray(v, dtype="float64") for k, v in self.values.items()}
        wrong = {k: v.shape for k, v in values.items() if v.shape != (len(self.labels),)}
        if wrong:
            _fail(f"chart {self.title!r} needs one value per label", wrong, "align each series with labels")
        object.__setattr__(self, "values", values)
        if self.counts is not None:
            if set(self.counts) != set(values):
                _fail(f"chart {self.title!r} needs counts for exactly its series", sorted(self.counts),
                      "give one count array per series")
            for name, count in self.counts.items():
                if np.shape(count) != (len(self.labels),):
                    _fail(f"chart {self.title!r} counts must align with labels", name, "one count per label")


def suppress_series(series: Series, threshold: int, base: int) -> dict[str, np.ndarray]:
    """Return each line's values with points of suppressed counts set to NaN."""
    if series.counts is None:
        return dict(series.values)
    return {name: np.where(suppress_counts(series.counts[name], threshold=threshold, base=base).hidden,
                           np.nan, line) for name, line in series.values.items()}


@dataclass(frozen=True, slots=True, eq=False)
class Section:
    """One chapter of the report (starts on a new page in print)."""

    heading: str
    intro: str = ""
    maps: tuple[MapLayer, ...] = ()
    tables: tuple[ReportTable, ...] = ()
    charts: tuple[Series, ...] = ()
    boundaries: tuple[Boundary, ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class Assessment:
    """The whole six-monthly assessment.

    Attributes
    ----------
    title, period_label, area_name : str
        E.g. "Retail crime assessment", "January to June 2022", "Leicestershire".
    generated_at : datetime
    summary_points : tuple of str
        Key findings, one sentence each, on the first page.
    sections : tuple of Section
    data_sources : ReportTable
        Source, vintage / period covered, rows used, licence.
    method_notes : tuple of (heading, paragraph)
    suppression : (int, int)
        (threshold, base) for every count in the report.
    marking : str
        Handling marking printed on every page ("" for none).
    prepared_by : str
        Team or analyst named on the cover ("" to leave out).
    """

    title: str
    period_label: str
    area_name: str
    generated_at: datetime
    summary_points: tuple[str, ...]
    sections: tuple[Section, ...]
    data_sources: ReportTable
    method_notes: tuple[tuple[str, str], ...] = ()
    suppression: tuple[int, int] = (10, 5)
    marking: str = "OFFICIAL-SENSITIVE"
    prepared_by: str = ""

    def __post_init__(self) -> None:
        threshold, base = self.suppression
        suppress_counts([0], threshold=threshold, base=base)  # validates the settings
