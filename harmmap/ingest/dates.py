"""Parse retailers' dates and times into Europe/London timestamps, whole columns at a time.

Each text value is tried against explicit formats in order (never guessed per
row): UK day-first dates ``dd/mm/yyyy``, ``dd/mm/yy``, ``dd-mm-yyyy``,
``dd.mm.yyyy``, ``dd Mon yyyy`` (each optionally followed by ``HH:MM`` or
``HH:MM:SS``), ISO ``yyyy-mm-dd`` dates and timestamps (always accepted, with
an optional UTC offset), compact ``yyyymmdd``, and Excel serial day numbers
(what a date cell becomes when it loses its format).  ``dayfirst=False``
switches the slash, dash and dot forms to US month-first order.

A separate time column (``HH:MM``, ``HH:MM:SS``, ``HHMM``, ``h:mm AM``, or an
Excel day fraction) replaces the time of the date column.

Local times are placed in Europe/London: a time that does not exist (the hour
skipped when clocks go forward) is moved forward to the first valid instant; a
time that occurs twice (the hour repeated when clocks go back) is taken as the
earlier one (still British Summer Time).

``time_precision`` is ``"minute"`` when a time was given and ``"day"`` when not.
A time of exactly midnight written in the date column (``05/03/2024 00:00``)
counts as no time: many systems export date-only values that way.

Dates before :data:`EARLIEST_DATE` (1970) are ``bad_date``: no retailer
incident log goes back that far, so such a value is a typo, a two-digit year
read as 19xx, or a number from the wrong column read as an Excel serial day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harmmap.schema import LONDON_TZ

_EXCEL_EPOCH = pd.Timestamp("1899-12-30")
_TIMES = ("", " %H:%M", " %H:%M:%S", "T%H:%M", "T%H:%M:%S")
_TIME_FORMATS = ("%H:%M", "%H:%M:%S", "%H.%M", "%I:%M %p", "%I:%M:%S %p", "%I:%M%p", "%H%M")
_MAX_SHAPES = 200
_OFFSET = r"(?:Z|[+-]\d\d:?\d\d)$"
#: Dates before this are rejected as ``bad_date`` (see the module docstring).
EARLIEST_DATE = pd.Timestamp("1970-01-01")


@dataclass(frozen=True)
class ParsedDates:
    """Timestamps parsed from a date (and optional time) column.

    Attributes
    ----------
    occurred_at : pandas.Series
        ``datetime64[s, Europe/London]``; NaT where ``reason`` is set.
    time_precision : numpy.ndarray of str
        ``"minute"`` or ``"day"`` per row.
    reason : numpy.ndarray of str
        ``""``, ``"bad_date"`` or ``"future_date"`` per row (blank dates are
        ``bad_date`` here; callers check for blanks first).
    too_early : numpy.ndarray of bool
        The ``bad_date`` rows that parsed but fall before :data:`EARLIEST_DATE`.
    """

    occurred_at: pd.Series
    time_precision: np.ndarray
    reason: np.ndarray
    too_early: np.ndarray


def date_formats(dayfirst: bool = True) -> tuple[tuple[str, bool], ...]:
    """Return the (strftime format, has time) pairs tried in order."""
    dm = ("%d", "%m") if dayfirst else ("%m", "%d")
    dates = [f"{dm[0]}{sep}{dm[1]}{sep}{year}" for sep in "/-." for year in ("%Y", "%y")]
    dates += ["%d %b %Y", "%d-%b-%Y", "%d %B %Y", "%d-%b-%y", "%d %b %y"]
    out = [(d + t, bool(t)) for d in dates for t in _TIMES if not t.startswith("T")]
    out += [("%Y-%m-%d" + t, bool(t)) for t in _TIMES] + [("%Y/%m/%d" + t, bool(t)) for t in _TIMES[:3]]
    return tuple(out)


def parse_dates(date: pd.Series, time: pd.Series | None = None, *, dayfirst: bool = True,
                today: dt.date | None = None) -> ParsedDates:
    """Parse a date column (and optional time column) vectorised.

    Parameters
    ----------
    date : pandas.Series of str
        Date or date-and-time text; NA for blank.
    time : pandas.Series of str, optional
        Time of day; where given it replaces the date column's time.
    dayfirst : bool
        UK ``dd/mm`` (default) or US ``mm/dd`` order for ambiguous forms.
    today : datetime.date, optional
        Dates after it are ``future_date`` (default: today).

    Returns
    -------
    ParsedDates
    """
    text = pd.Series(date, dtype="string").str.strip().reset_index(drop=True)
    codes, uniques = pd.factorize(text)
    unique_stamp, unique_time = _parse_text(pd.Series(uniques, dtype="string"), dayfirst)
    stamp = pd.Series(_take(unique_stamp.to_numpy(), codes, np.datetime64("NaT", "s")), dtype="datetime64[s]")
    has_time = _take(unique_time, codes, False)
    has_time = has_time & ~(stamp == stamp.dt.normalize()).fillna(False).to_numpy(dtype=bool)
    bad = stamp.isna().to_numpy(copy=True)
    if time is not None:
        clock, clock_given, clock_bad = parse_times(pd.Series(time, dtype="string").reset_index(drop=True))
        stamp = stamp.where(~clock_given, stamp.dt.normalize() + clock)
        has_time = np.where(clock_given, True, has_time)
        bad = bad | clock_bad
    early = (stamp < EARLIEST_DATE).fillna(False).to_numpy(dtype=bool) & ~bad
    stamp = stamp.where(~early, pd.NaT)
    local = _localise(stamp)
    today = today or dt.date.today()
    future = (stamp.dt.normalize() > pd.Timestamp(today)).fillna(False).to_numpy(dtype=bool)
    reason = np.where(bad | early, "bad_date", np.where(future, "future_date", "")).astype(object)
    local = local.where(reason == "", pd.NaT)
    precision = np.where(has_time, "minute", "day").astype(object)
    return ParsedDates(local, precision, reason, early)


def _parse_text(text: pd.Series, dayfirst: bool) -> tuple[pd.Series, np.ndarray]:
    """Return naive timestamps (NaT where no format fits) and whether each had a time.

    Values are grouped by shape (digits as ``9``, letters as ``a``): the
    format is chosen once per shape from a few examples and applied to the
    whole group, so the cost does not grow with the number of formats.
    """
    stamp = pd.Series(pd.NaT, index=text.index, dtype="datetime64[s]")
    has_time = np.zeros(len(text), dtype=bool)
    candidates = np.flatnonzero(text.str.match(r"^\d{1,4}[-/. ]").fillna(False).to_numpy(dtype=bool))
    formats = date_formats(dayfirst)
    common = _best_format(text.iloc[candidates[:200]], formats) if len(candidates) else None
    if common is not None:
        candidates = _apply_format(text, candidates, common, stamp, has_time)
    if len(candidates):
        shapes = text.iloc[candidates].str.replace(r"\d", "9", regex=True).str.replace(r"[^\W\d_]", "a", regex=True)
        codes, _ = pd.factorize(shapes)
        order = np.argsort(codes, kind="stable")
        groups = np.split(candidates[order], np.flatnonzero(np.diff(codes[order])) + 1)
        groups.sort(key=len, reverse=True)
        used: list = []
        for group in groups[:_MAX_SHAPES]:
            fmt = _best_format(text.iloc[group[:20]], formats)
            if fmt is not None:
                _apply_format(text, group, fmt, stamp, has_time)
                used += [fmt] if fmt not in used else []
        rest = np.concatenate(groups[_MAX_SHAPES:]) if len(groups) > _MAX_SHAPES else np.empty(0, dtype="int64")
        for fmt in used:
            rest = _apply_format(text, rest, fmt, stamp, has_time)
    todo = text.notna().to_numpy(dtype=bool) & stamp.isna().to_numpy()
    _parse_iso_offsets(text, stamp, has_time, todo)
    _parse_compact_and_serial(text, stamp, has_time, todo)
    return stamp, has_time


def _best_format(examples: pd.Series, formats) -> tuple[str, bool] | None:
    """Return the first format that parses the most examples, or None."""
    best, best_hits = None, 0
    for fmt in formats:
        hits = int(pd.to_datetime(examples, format=fmt[0], errors="coerce").notna().sum())
        if hits > best_hits:
            best, best_hits = fmt, hits
            if hits == len(examples):
                break
    return best


def _apply_format(text: pd.Series, rows: np.ndarray, fmt: tuple[str, bool], stamp: pd.Series,
                  has_time: np.ndarray) -> np.ndarray:
    """Parse ``rows`` with one format, fill ``stamp``/``has_time``; return the rows it did not fit."""
    if not len(rows):
        return rows
    got = pd.to_datetime(text.iloc[rows], format=fmt[0], errors="coerce")
    hit = got.notna().to_numpy()
    stamp.iloc[rows[hit]] = got[hit].astype("datetime64[s]").to_numpy()
    has_time[rows[hit]] = fmt[1]
    return rows[~hit]


def _parse_iso_offsets(text: pd.Series, stamp: pd.Series, has_time: np.ndarray, todo: np.ndarray) -> None:
    """ISO 8601 timestamps with fractions or UTC offsets, converted to London wall time."""
    iso = todo & text.str.match(r"^\d{4}-\d\d-\d\d[T ]").fillna(False).to_numpy(dtype=bool)
    if not iso.any():
        return
    values = text[iso]
    aware = values.str.contains(_OFFSET, regex=True).fillna(False).to_numpy(dtype=bool)
    got = pd.Series(pd.NaT, index=values.index, dtype="datetime64[s]")
    if aware.any():
        utc = pd.to_datetime(values[aware], format="ISO8601", errors="coerce", utc=True)
        got[aware] = utc.dt.tz_convert(LONDON_TZ).dt.tz_localize(None).astype("datetime64[s]")
    if (~aware).any():
        got[~aware] = pd.to_datetime(values[~aware], format="ISO8601", errors="coerce").astype("datetime64[s]")
    hit = got.notna().to_numpy()
    rows = np.flatnonzero(iso)[hit]
    stamp.iloc[rows] = got[hit].to_numpy()
    has_time[rows] = True
    todo[rows] = False


def _parse_compact_and_serial(text: pd.Series, stamp: pd.Series, has_time: np.ndarray, todo: np.ndarray) -> None:
    """``yyyymmdd`` and Excel serial day numbers (1 = 1900-01-01, fractions are the time of day)."""
    compact = todo & text.str.fullmatch(r"\d{8}").fillna(False).to_numpy(dtype=bool)
    if compact.any():
        got = pd.to_datetime(text[compact], format="%Y%m%d", errors="coerce")
        hit = got.notna().to_numpy()
        rows = np.flatnonzero(compact)[hit]
        stamp.iloc[rows] = got[hit].astype("datetime64[s]").to_numpy()
        todo[rows] = False
    serial = todo & text.str.fullmatch(r"\d{1,6}(?:\.\d+)?").fillna(False).to_numpy(dtype=bool)
    if serial.any():
        days = pd.to_numeric(text[serial], errors="coerce").to_numpy(dtype="float64")
        ok = (days >= 1) & (days < 2958466)
        rows = np.flatnonzero(serial)[ok]
        seconds = np.round(days[ok] * 86400).astype("int64")
        stamp.iloc[rows] = (_EXCEL_EPOCH + pd.to_timedelta(seconds, unit="s")).to_numpy().astype("datetime64[s]")
        has_time[rows] = (seconds % 86400) != 0
        todo[rows] = False


def parse_times(time: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Return (time of day as timedelta, given, bad) for a time-of-day column."""
    codes, uniques = pd.factorize(pd.Series(time, dtype="string").reset_index(drop=True))
    clock, given, bad = _parse_unique_times(pd.Series(uniques, dtype="string"))
    clock = pd.Series(_take(clock.to_numpy(), codes, np.timedelta64("NaT", "s")), dtype="timedelta64[s]")
    return clock, _take(given, codes, False), _take(bad, codes, False)


def _take(values: np.ndarray, codes: np.ndarray, missing) -> np.ndarray:
    """Broadcast per-distinct-value results back to rows (code -1 = NA gets ``missing``)."""
    padded = np.concatenate([np.asarray(values), np.array([missing], dtype=np.asarray(values).dtype)])
    return padded[np.where(codes >= 0, codes, len(values))]


def _parse_unique_times(time: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    text = time.str.strip().str.upper()
    given = text.notna().to_numpy(dtype=bool) & (text.fillna("") != "").to_numpy(dtype=bool)
    clock = pd.Series(pd.NaT, index=text.index, dtype="timedelta64[s]")
    todo = given.copy()
    for fmt in _TIME_FORMATS:
        if not todo.any():
            break
        got = pd.to_datetime(text[todo], format=fmt, errors="coerce")
        hit = got.notna().to_numpy()
        rows = np.flatnonzero(todo)[hit]
        clock.iloc[rows] = (got[hit] - got[hit].dt.normalize()).astype("timedelta64[s]").to_numpy()
        todo[rows] = False
    fraction = todo & text.str.fullmatch(r"0?\.\d+|0").fillna(False).to_numpy(dtype=bool)
    if fraction.any():
        seconds = np.round(pd.to_numeric(text[fraction]).to_numpy(dtype="float64") * 86400).astype("int64")
        clock.iloc[np.flatnonzero(fraction)] = pd.to_timedelta(seconds, unit="s").to_numpy()
        todo[fraction] = False
    return clock, given, todo


def _localise(stamp: pd.Series) -> pd.Series:
    """Wall-clock London times to aware timestamps (gap: shift forward; overlap: the earlier)."""
    earliest = np.ones(len(stamp), dtype=bool)
    local = stamp.dt.tz_localize(LONDON_TZ, nonexistent="shift_forward", ambiguous=earliest)
    return local.astype(f"datetime64[s, {LONDON_TZ}]")


def month_start(occurred_at: pd.Series) -> pd.Series:
    """Return the first day of each timestamp's (local) month as naive ``datetime64[s]``."""
    naive = occurred_at.dt.tz_localize(None)
    return naive.dt.to_period("M").dt.to_timestamp().astype("datetime64[s]")
