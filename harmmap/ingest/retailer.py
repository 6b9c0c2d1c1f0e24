"""Read a retailer's own incident report (CSV or XLSX) into canonical incidents plus rejects.

The file's columns are named by a :class:`~harmmap.ingest.mapping.RetailerMapping`.
Every row is accepted or rejected with exactly one reason: the first check it
fails, in this order:

1. ``encoding_error``, ``malformed_row`` -- the row cannot be read (see
   :mod:`harmmap.ingest.tables`);
2. ``missing_value`` -- the date or the category is blank;
3. ``bad_date``, ``future_date`` -- see :mod:`harmmap.ingest.dates`;
4. ``unknown_crime_type`` -- the category is not known (see
   :mod:`harmmap.ingest.categories`);
5. ``bad_value`` -- ``value_gbp`` is not a non-negative amount, or ``injury``
   / ``weapon`` is not one of the mapping's true/false spellings;
6. the location, tried in this order: lat/lng when either is given, else
   easting/northing when either is given, else the postcode via the lookup
   (``postcode_not_found``), else the store's own location when the row has a
   store id that is in the store list; nothing usable is ``no_location``.  A
   location that is given but wrong is rejected, not replaced by a fallback
   (``missing_value`` for half a coordinate pair, ``bad_coordinates``,
   ``zero_coordinates``, ``lat_lng_swapped``, ``grid_as_degrees``, ``outside_uk``).

A row without an incident reference gets a stable synthetic one
(``auto-<hash of the row's content>-<ordinal among identical rows>``) and the
result carries a note saying so.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from harmmap.geo.crs import bng_to_wgs84
from harmmap.geo.validate import classify_grid, classify_latlng
from harmmap.ingest.categories import map_categories, unknown_category_detail
from harmmap.ingest.dates import EARLIEST_DATE, ParsedDates, month_start, parse_dates
from harmmap.ingest.mapping import RetailerMapping, match_columns
from harmmap.ingest.postcodes import normalise_postcodes
from harmmap.ingest.result import ReadResult, make_rejects
from harmmap.ingest.tables import STRING, read_table, rows_to_csv_text
from harmmap.schema import RETAILER_PREFIX, REJECT_REASONS

_HEX = np.array(list("0123456789abcdef"))


def read_retailer_incidents(path, *, org_id: str, mapping: RetailerMapping, postcodes: pd.DataFrame | None = None,
                            stores: pd.DataFrame | None = None, today: dt.date | None = None) -> ReadResult:
    """Read one retailer incident file.

    Parameters
    ----------
    path : str or os.PathLike
        CSV (plain or gzip) or XLSX file.
    org_id : str
        The retailer organisation; the source is ``"retailer:<org_id>"``.
    mapping : RetailerMapping
        Which column is which field, date order, sheet, encoding, yes/no
        spellings and extra categories.
    postcodes : pandas.DataFrame, optional
        Lookup from :func:`~harmmap.ingest.postcodes.read_postcode_lookup`.
    stores : pandas.DataFrame, optional
        Store list (``org_id``, ``store_id``, ``lat``, ``lng``, optionally
        ``easting``, ``northing``) used for rows located only by store.
    today : datetime.date, optional
        Dates after it are rejected as ``future_date`` (default: today).

    Returns
    -------
    ReadResult

    Raises
    ------
    SchemaError
        A mapped column is not in the file (the message lists the file's columns).
    InputFileError
        The file cannot be opened (see :func:`~harmmap.ingest.tables.read_table`).
    """
    raw = read_table(path, sheet=mapping.sheet, encoding=mapping.encoding)
    columns = _resolve_columns(raw.columns, mapping, str(path))
    f = {name: clean_text(raw.frame[column]) for name, column in columns.items()}
    checked = _check(f, len(raw.frame), mapping, postcodes, stores, org_id, today)
    ok = checked.verdict.reason == ""
    refs, notes = _source_refs(raw.frame, f.get("source_ref"), ok)
    incidents = _incidents(f, checked, refs, org_id, raw.row_numbers).loc[ok].reset_index(drop=True)
    rejects = pd.concat([raw.bad_rows, checked.verdict.rejects(raw.frame, raw.row_numbers)], ignore_index=True)
    rejects = rejects.sort_values("row_number", kind="stable").reset_index(drop=True)
    return ReadResult(incidents, rejects, raw.rows_read, notes=tuple(notes + checked.place.notes))


@dataclass(frozen=True)
class _Checked:
    """Every field parsed, and the verdict on every row."""

    verdict: Verdict
    dates: ParsedDates
    crime_type: np.ndarray
    offence: np.ndarray
    value: np.ndarray
    injury: pd.Series
    weapon: pd.Series
    place: Place


def _check(f: dict, n: int, mapping: RetailerMapping, postcodes, stores, org_id: str, today) -> _Checked:
    """Parse the fields and give each row its first failing check (see the module docstring for the order)."""
    verdict = Verdict(n)
    verdict.reject((f["date"].isna() | f["category"].isna()).to_numpy(bool), "missing_value",
                   lambda rows: np.where(f["date"].iloc[rows].isna(), "date is blank", "category is blank"))
    dates = parse_dates(f["date"], f.get("time"), dayfirst=mapping.dayfirst, today=today)
    verdict.reject(dates.reason != "", dates.reason, lambda rows: _describe_dates(f, dates, rows))
    injury, injury_bad = _flags(f.get("injury"), mapping, n)
    weapon, weapon_bad = _flags(f.get("weapon"), mapping, n)
    crime_type, offence, unknown = map_categories(f["category"], dict(mapping.categories), injury)
    verdict.reject(unknown, "unknown_crime_type",
                   lambda rows: [unknown_category_detail(v) for v in f["category"].iloc[rows]])
    value, value_bad = _money(f.get("value_gbp"), n)
    verdict.reject(value_bad, "bad_value",
                   lambda rows: _quote("value_gbp is not an amount in pounds: ", f, "value_gbp", rows))
    verdict.reject(injury_bad, "bad_value", lambda rows: _quote("injury is not yes/no: ", f, "injury", rows))
    verdict.reject(weapon_bad, "bad_value", lambda rows: _quote("weapon is not yes/no: ", f, "weapon", rows))
    place = locate_rows(f, n, postcodes, stores, org_id)
    verdict.reject(place.reason != "", place.reason, lambda rows: place.detail[rows])
    return _Checked(verdict, dates, crime_type, offence, value, injury, weapon, place)


def _incidents(f: dict, c: _Checked, refs: pd.Series, org_id: str, row_numbers: np.ndarray) -> pd.DataFrame:
    """All rows in the canonical incident columns (the caller keeps the accepted ones)."""
    n = len(row_numbers)
    return pd.DataFrame({
        "source": _constant(RETAILER_PREFIX + org_id, n),
        "source_ref": refs, "police_ref": _or_na(f, "police_ref", n),
        "month": month_start(c.dates.occurred_at), "occurred_at": c.dates.occurred_at,
        "time_precision": pd.array(c.dates.time_precision, dtype=STRING),
        "crime_type": pd.array(c.crime_type, dtype=STRING), "offence": pd.array(c.offence, dtype=STRING),
        "lat": c.place.lat, "lng": c.place.lng, "easting": c.place.easting, "northing": c.place.northing,
        "location_text": _or_na(f, "location_text", n), "lsoa_code": _constant(None, n),
        "outcome": _constant(None, n), "store_id": _or_na(f, "store_id", n),
        "org_id": _constant(org_id, n), "value_gbp": c.value,
        "injury": c.injury, "weapon": c.weapon, "row_number": row_numbers,
    })


class Verdict:
    """One reason per row: the first check that fails wins (call :meth:`reject` in check order)."""

    def __init__(self, n: int):
        self.reason = np.full(n, "", dtype=object)
        self.detail = np.full(n, "", dtype=object)

    def reject(self, mask: np.ndarray, code, describe) -> None:
        rows = np.flatnonzero(np.asarray(mask, dtype=bool) & (self.reason == ""))
        if len(rows):
            self.reason[rows] = code[rows] if isinstance(code, np.ndarray) else code
            self.detail[rows] = np.asarray(describe(rows), dtype=object)

    def rejects(self, frame: pd.DataFrame, numbers: np.ndarray) -> pd.DataFrame:
        rows = np.flatnonzero(self.reason != "")
        return make_rejects(numbers[rows], self.reason[rows], self.detail[rows], rows_to_csv_text(frame.iloc[rows]))


def _resolve_columns(present: tuple[str, ...], mapping: RetailerMapping, name: str) -> dict[str, str]:
    """Map each mapped field to the file's column, exactly or ignoring case and spacing."""
    return match_columns(present, mapping.columns, what="the file", name=name,
                         fix="correct the column names under [columns] in the mapping (or --column FIELD=COLUMN)")


def clean_text(column: pd.Series) -> pd.Series:
    """Return a column as trimmed strings with blanks as NA, indexed 0..n-1."""
    text = column.astype(STRING).str.strip().reset_index(drop=True)
    return text.mask(text == "", pd.NA)


def _strings(array) -> pd.Series:
    """Wrap an Arrow string array as a pandas string Series (no per-element Python)."""
    return pd.Series(STRING.construct_array_type()(pa.array(array).cast(pa.large_string())))


def _constant(value: str | None, n: int) -> pd.Series:
    return _strings(pa.array(np.full(n, value, dtype=object), pa.string()))


def _or_na(f: dict, name: str, n: int) -> pd.Series:
    return f[name] if name in f else _constant(None, n)


def _quote(prefix: str, f: dict, name: str, rows: np.ndarray) -> np.ndarray:
    return (prefix + "'" + f[name].iloc[rows].fillna("") + "'").to_numpy(dtype=object)


def _describe_dates(f: dict, dates: ParsedDates, rows: np.ndarray) -> np.ndarray:
    text = f["date"].iloc[rows].fillna("")
    if "time" in f:
        clock = f["time"].iloc[rows]
        text = text + (" " + clock).fillna("")
    future = dates.reason[rows] == "future_date"
    early = dates.too_early[rows]
    unparsed = ("date/time cannot be parsed: '" + text + "' (expected dd/mm/yyyy [HH:MM] or yyyy-mm-dd)")
    old = "date is before " + EARLIEST_DATE.strftime("%Y") + ": '" + text + "' (a typo, or the wrong column?)"
    return np.where(future, ("date is in the future: '" + text + "'").to_numpy(object),
                    np.where(early, old.to_numpy(object), unparsed.to_numpy(object)))


def _flags(text: pd.Series | None, mapping: RetailerMapping, n: int) -> tuple[pd.Series, np.ndarray]:
    """Return (nullable bool flags, bad mask) using the mapping's true/false spellings."""
    if text is None:
        return pd.Series(pd.arrays.BooleanArray(np.zeros(n, bool), np.ones(n, bool))), np.zeros(n, dtype=bool)
    low = text.str.lower().fillna("")
    is_true = low.isin(mapping.true_values).to_numpy(bool)
    is_false = low.isin(mapping.false_values).to_numpy(bool)
    blank = (low == "").to_numpy(bool)
    flags = pd.Series(pd.array(np.where(is_true, True, False), dtype="boolean"))
    flags[~is_true & ~is_false] = pd.NA
    return flags, ~is_true & ~is_false & ~blank


def _money(text: pd.Series | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Parse amounts like ``£1,234.50``; return (values, bad mask) -- negative or non-numeric is bad."""
    if text is None:
        return np.full(n, np.nan), np.zeros(n, dtype=bool)
    stripped = _strings(pc.replace_substring_regex(pa.array(text), r"[£,\s]|GBP|gbp", ""))
    value = pd.to_numeric(stripped, errors="coerce").astype("float64").to_numpy(dtype="float64", na_value=np.nan)
    bad = text.notna().to_numpy(bool) & (np.isnan(value) | ~np.isfinite(value) | (value < 0))
    return np.where(bad, np.nan, value), bad


class Place:
    """Location per row: coordinates and, where unusable, a reason and detail."""

    def __init__(self, n: int):
        self.lat, self.lng = np.full(n, np.nan), np.full(n, np.nan)
        self.easting, self.northing = np.full(n, np.nan), np.full(n, np.nan)
        self.reason = np.full(n, "", dtype=object)
        self.detail = np.full(n, "", dtype=object)
        self.todo = np.ones(n, dtype=bool)
        self.notes: list[str] = []

    def settle(self, rows: np.ndarray, reason: np.ndarray, detail) -> None:
        """Mark ``rows`` as decided; rows with a reason get it and the detail."""
        self.todo[rows] = False
        bad = reason != ""
        self.reason[rows[bad]] = reason[bad]
        self.detail[rows[bad]] = detail[bad] if isinstance(detail, np.ndarray) else detail


def locate_rows(f: dict, n: int, postcodes: pd.DataFrame | None = None, stores: pd.DataFrame | None = None,
                org_id: str = "") -> Place:
    """Locate each row from its location fields, in order: lat/lng, easting/northing, postcode, store.

    ``f`` maps field names (``lat``, ``lng``, ``easting``, ``northing``,
    ``postcode``, ``store_id``) to cleaned string Series; missing fields are
    skipped (leave out ``store_id`` to skip the store step).
    """
    place = Place(n)
    if "lat" in f:
        _from_latlng(place, f)
    if "easting" in f:
        _from_grid(place, f)
    if "postcode" in f:
        _from_postcode(place, f, postcodes)
    if "store_id" in f:
        _from_store(place, f, org_id, stores)
    rows = np.flatnonzero(place.todo)
    place.settle(rows, np.full(len(rows), "no_location", dtype=object),
                 "no location: no coordinates, postcode or store with a known location")
    return place


def _numbers(text: pd.Series, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (values, garbage) for the given rows: garbage is non-blank text that is not a number."""
    part = text.iloc[rows]
    value = pd.to_numeric(part, errors="coerce").astype("float64").to_numpy(dtype="float64", na_value=np.nan)
    return value, part.notna().to_numpy(bool) & np.isnan(value)


def _coordinate_detail(reason: np.ndarray, a: pd.Series, b: pd.Series, rows: np.ndarray) -> np.ndarray:
    pair = (" ('" + a.iloc[rows].fillna("") + "', '" + b.iloc[rows].fillna("") + "')").to_numpy(object)
    texts = {**REJECT_REASONS, "missing_value": f"only one of {a.name or 'the pair'} and {b.name or ''} is given"}
    return reason_text(reason, texts) + pair


def reason_text(reason: np.ndarray, texts: dict[str, str] = REJECT_REASONS) -> np.ndarray:
    """Return the text of each reason code (``""`` for none), vectorised."""
    return pd.Series(reason, dtype=object).map(texts).fillna("").to_numpy(dtype=object)


def _half_given(reason: np.ndarray, a: pd.Series, b: pd.Series, rows: np.ndarray) -> None:
    """Mark rows where exactly one of a coordinate pair is blank as ``missing_value``."""
    reason[(a.iloc[rows].isna() != b.iloc[rows].isna()).to_numpy(bool)] = "missing_value"


def _pair(place: Place, a: pd.Series, b: pd.Series, classify):
    """Rows still to locate that give either of a coordinate pair: (rows, first, second, reason)."""
    rows = np.flatnonzero(place.todo & (a.notna() | b.notna()).to_numpy(bool))
    x, bad_x = _numbers(a, rows)
    y, bad_y = _numbers(b, rows)
    reason = classify(x, y)
    reason[bad_x | bad_y] = "bad_coordinates"
    _half_given(reason, a, b, rows)
    return rows, x, y, reason


def _from_latlng(place: Place, f: dict) -> None:
    rows, lat, lng, reason = _pair(place, f["lat"], f["lng"], classify_latlng)
    place.lat[rows], place.lng[rows] = lat, lng
    place.settle(rows, reason, _coordinate_detail(reason, f["lat"], f["lng"], rows))


def _from_grid(place: Place, f: dict) -> None:
    rows, e, nn, reason = _pair(place, f["easting"], f["northing"], classify_grid)
    good = reason == ""
    lat, lng = bng_to_wgs84(np.where(good, e, 0.0), np.where(good, nn, 0.0))
    reason = np.where(good, classify_latlng(lat, lng), reason).astype(object)
    place.lat[rows], place.lng[rows] = np.where(good, lat, np.nan), np.where(good, lng, np.nan)
    place.easting[rows], place.northing[rows] = e, nn
    place.settle(rows, reason, _coordinate_detail(reason, f["easting"], f["northing"], rows))


def _targets(place: Place) -> tuple:
    return (place.lat, "lat"), (place.lng, "lng"), (place.easting, "easting"), (place.northing, "northing")


def _from_postcode(place: Place, f: dict, lookup: pd.DataFrame | None) -> None:
    given = place.todo & f["postcode"].notna().to_numpy(bool)
    if lookup is None:
        if given.any():
            place.notes.append(f"{int(given.sum())} rows have a postcode but no postcode lookup was given "
                               "(--postcodes), so the postcode was not used")
        return
    rows = np.flatnonzero(given)
    keys = normalise_postcodes(f["postcode"].iloc[rows])
    lookup = lookup.drop_duplicates("postcode_key")
    at = pd.Index(lookup["postcode_key"].astype(STRING)).get_indexer(keys.fillna(""))
    found = at >= 0
    for out, column in _targets(place):
        out[rows[found]] = lookup[column].to_numpy(dtype="float64")[at[found]]
    reason = np.where(found, classify_latlng(place.lat[rows], place.lng[rows]), "postcode_not_found").astype(object)
    missing = ("postcode not in the lookup: '" + f["postcode"].iloc[rows].fillna("") + "'").to_numpy(object)
    wrong = "the lookup's location for this postcode: " + reason_text(reason)
    place.settle(rows, reason, np.where(found, wrong, missing))


def _from_store(place: Place, f: dict, org_id: str, stores: pd.DataFrame | None) -> None:
    rows = np.flatnonzero(place.todo & f["store_id"].notna().to_numpy(bool))
    if not len(rows):
        return
    ids = f["store_id"].iloc[rows]
    if stores is None or not len(stores):
        place.settle(rows, np.full(len(rows), "no_location", dtype=object),
                     f"no coordinates or postcode, and no store list for {org_id!r} to locate the store "
                     "(import one with: harmmap stores import)")
        return
    mine = stores if "org_id" not in stores else stores[stores["org_id"].astype(str) == org_id]
    keys = mine["store_id"].astype(str).str.strip()
    mine, keys = mine.loc[~keys.duplicated().to_numpy(bool)], keys.drop_duplicates()
    at = pd.Index(keys.to_numpy(object)).get_indexer(ids.to_numpy(object))
    found = at >= 0
    for out, column in _targets(place):
        if column in mine:
            out[rows[found]] = pd.to_numeric(mine[column], errors="coerce").to_numpy(dtype="float64")[at[found]]
    checked = classify_latlng(place.lat[rows], place.lng[rows])
    reason = np.where(found, checked, "no_location").astype(object)
    missing = ("store '" + ids + f"' is not in the store list of {org_id!r}").to_numpy(object)
    detail = np.where(found, "the store list's location for this store: " + reason_text(reason), missing)
    place.settle(rows, reason, detail)


def _source_refs(frame: pd.DataFrame, refs: pd.Series | None, ok: np.ndarray) -> tuple[pd.Series, list[str]]:
    """Return incident references, synthesising stable ones where the file has none."""
    n = len(frame)
    out = refs.copy() if refs is not None else _constant(None, n)
    blank = out.isna().to_numpy(bool)
    if not blank.any():
        return out, []
    content = pd.util.hash_pandas_object(frame.reset_index(drop=True).fillna(""), index=False).to_numpy()
    ordinal = pd.Series(content).groupby(content, sort=False).cumcount().to_numpy(dtype="int64")
    digits = _HEX[(content[:, None] >> np.arange(60, -4, -4, dtype="uint64")) & np.uint64(15)]
    hexes = np.ascontiguousarray(digits).view("<U16").ravel()
    synthetic = "auto-" + pd.Series(hexes, dtype=STRING) + "-" + pd.Series(ordinal + 1).astype(STRING)
    out[blank] = synthetic[blank]
    count = int((blank & ok).sum())
    if not count:
        return out, []
    why = "the mapping names no source_ref column" if refs is None else "their source_ref is blank"
    note = (f"{count} rows got a synthetic reference because {why}: it is a hash of the row's content, "
            "so re-importing the same rows does not duplicate them, but an edited row counts as a new incident")
    return out, [note]
