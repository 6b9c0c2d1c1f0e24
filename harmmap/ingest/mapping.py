"""The column mapping of a retailer's incident file: which of their columns is which harmmap field.

A mapping file is TOML::

    [columns]                  # harmmap field = column name in the file
    source_ref = "Incident Ref"
    date = "Incident Date"     # date, or date and time
    time = "Incident Time"     # optional
    category = "Category"
    store_id = "Store No"
    lat = "Latitude"           # location: lat+lng, easting+northing, postcode or store_id
    lng = "Longitude"
    [format]
    dayfirst = true            # UK dd/mm/yyyy (default); ISO yyyy-mm-dd is always accepted
    sheet = "Incidents"        # XLSX sheet (default: the first)
    encoding = "utf-8"         # CSV text encoding, e.g. "cp1252"
    true_values = ["y", "yes", "true", "1"]
    false_values = ["n", "no", "false", "0", ""]
    [categories]               # their label = harmmap category key
    "Shop theft" = "theft"

``date`` and ``category`` are required, plus at least one location option.
Command-line options (``columns=``, ``dayfirst=``, ``sheet=``) override the file.
"""

from __future__ import annotations

import codecs
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from harmmap.errors import InputFileError, MappingError, SchemaError
from harmmap.ingest.categories import check_extra_categories, load_categories, normalise_label

#: harmmap fields a retailer column can be mapped to, with what each holds.
FIELDS: dict[str, str] = {
    "source_ref": "the retailer's own incident reference",
    "date": "date, or date and time, of the incident (required)",
    "time": "time of day, when it is in its own column",
    "category": "the retailer's incident category (required)",
    "store_id": "store number or code",
    "location_text": "store name or address as text",
    "value_gbp": "value of goods stolen or damaged, in pounds",
    "injury": "whether anyone was injured (yes/no)",
    "weapon": "whether a weapon was involved (yes/no)",
    "police_ref": "the police crime reference",
    "lat": "WGS84 latitude", "lng": "WGS84 longitude",
    "easting": "British National Grid easting (m)", "northing": "British National Grid northing (m)",
    "postcode": "postcode of the incident or store",
}
LOCATION_OPTIONS: dict[str, tuple[str, ...]] = {
    "latlng": ("lat", "lng"), "grid": ("easting", "northing"), "postcode": ("postcode",), "store": ("store_id",),
}
_FORMAT_KEYS = ("dayfirst", "sheet", "encoding", "true_values", "false_values")
_SECTIONS = ("columns", "format", "categories")
DEFAULT_TRUE = ("y", "yes", "true", "1")
DEFAULT_FALSE = ("n", "no", "false", "0", "")


@dataclass(frozen=True)
class RetailerMapping:
    """How to read one retailer's incident file.

    Attributes
    ----------
    columns : Mapping[str, str]
        harmmap field -> column name in the file (see :data:`FIELDS`).
    dayfirst : bool
        ``dd/mm`` (True, UK) or ``mm/dd`` dates.
    sheet : str or None
        XLSX worksheet; None for the first.
    encoding : str
        Text encoding of a CSV file.
    true_values, false_values : tuple of str
        Lower-case spellings of yes/no in the injury and weapon columns.
    categories : Mapping[str, str]
        The retailer's own category labels -> harmmap category keys.
    """

    columns: Mapping[str, str]
    dayfirst: bool = True
    sheet: str | None = None
    encoding: str = "utf-8"
    true_values: tuple[str, ...] = DEFAULT_TRUE
    false_values: tuple[str, ...] = DEFAULT_FALSE
    categories: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def location_options(self) -> tuple[str, ...]:
        """The location options mapped, in the order they are tried: latlng, grid, postcode, store."""
        return tuple(name for name, fields in LOCATION_OPTIONS.items() if all(f in self.columns for f in fields))


def load_mapping(path=None, *, columns: dict | None = None, dayfirst: bool | None = None,
                 sheet: str | None = None) -> RetailerMapping:
    """Read a mapping TOML file (optional) and apply overrides.

    Parameters
    ----------
    path : str or os.PathLike, optional
        Mapping file.  Without one, ``columns`` must name everything required.
    columns : dict, optional
        field -> column name; merged over the file's ``[columns]``.
    dayfirst, sheet : optional
        Override ``[format]``.

    Raises
    ------
    MappingError
        Invalid TOML (with its line), unknown sections, keys or fields, wrong
        value types, a missing required field or location option.
    InputFileError
        The mapping file cannot be read.
    """
    data = _read_toml(Path(path)) if path is not None else {}
    _check_keys(data, _SECTIONS, "the mapping file", "sections")
    mapped = {**_section(data, "columns"), **(columns or {})}
    _check_keys(mapped, tuple(FIELDS), "[columns]", "fields")
    for name, column in mapped.items():
        if not isinstance(column, str) or not column.strip():
            raise MappingError(f"[columns] {name} must be a column name (text)", given=repr(column),
                               fix=f'e.g. {name} = "Column heading"')
    fmt = _section(data, "format")
    _check_keys(fmt, _FORMAT_KEYS, "[format]", "keys")
    if dayfirst is not None:
        fmt["dayfirst"] = dayfirst
    if sheet is not None:
        fmt["sheet"] = sheet
    mapping = RetailerMapping(
        columns=MappingProxyType({k: v.strip() for k, v in mapped.items()}),
        dayfirst=_typed(fmt, "dayfirst", bool, True),
        sheet=_typed(fmt, "sheet", str, None),
        encoding=_encoding(_typed(fmt, "encoding", str, "utf-8")),
        true_values=_values(fmt, "true_values", DEFAULT_TRUE),
        false_values=_values(fmt, "false_values", DEFAULT_FALSE),
        categories=MappingProxyType(check_extra_categories(_section(data, "categories"))),
    )
    _check_complete(mapping)
    return mapping


def _read_toml(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputFileError("mapping file not found", given=str(path), fix="check the --mapping path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError("cannot read the mapping file", given=f"{path}: {exc}",
                             fix="save it as UTF-8 text") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"the mapping file is not valid TOML: {exc}", given=str(path),
                           fix='check that line: text values need quotes, e.g. date = "Incident Date"') from None


def _section(data: dict, name: str) -> dict:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise MappingError(f"[{name}] must be a table (a section)", given=repr(value),
                           fix=f"write it as a section: [{name}] on its own line, then key = value lines")
    return dict(value)


def _check_keys(data: dict, valid: tuple[str, ...], where: str, what: str) -> None:
    unknown = [k for k in data if k not in valid]
    if unknown:
        raise MappingError(f"unknown {what} in {where}: {', '.join(map(str, unknown))}",
                           given=", ".join(map(str, data)), fix=f"valid {what}: {', '.join(valid)}")


def _typed(fmt: dict, key: str, kind: type, default):
    value = fmt.get(key, default)
    if value is not None and not isinstance(value, kind):
        raise MappingError(f"[format] {key} must be {kind.__name__}", given=repr(value),
                           fix="e.g. dayfirst = true" if kind is bool else f'e.g. {key} = "..."')
    return value


def _encoding(name: str) -> str:
    try:
        codecs.lookup(name)
    except LookupError:
        raise MappingError("unknown text encoding in [format] encoding", given=repr(name),
                           fix='use e.g. "utf-8", "cp1252" or "latin-1"') from None
    return name


def _values(fmt: dict, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    values = fmt.get(key, list(default))
    if not isinstance(values, list) or not all(isinstance(v, (str, int, bool)) for v in values):
        raise MappingError(f"[format] {key} must be a list of text values", given=repr(values),
                           fix=f"e.g. {key} = {list(default)!r}".replace("'", '"'))
    return tuple(str(v).strip().lower() for v in values)


def _check_complete(mapping: RetailerMapping) -> None:
    overlap = set(mapping.true_values) & set(mapping.false_values)
    if overlap:
        raise MappingError("[format] true_values and false_values overlap", given=", ".join(sorted(overlap)),
                           fix="list each spelling in only one of them")
    missing = [f for f in ("date", "category") if f not in mapping.columns]
    if missing:
        raise MappingError(f"the mapping does not name the column(s) for: {', '.join(missing)}",
                           given=dict(mapping.columns) or "no columns",
                           fix='add them under [columns], e.g. date = "Incident Date", or use --column date=...')
    for option, fields in LOCATION_OPTIONS.items():
        present = [f for f in fields if f in mapping.columns]
        if 0 < len(present) < len(fields):
            raise MappingError(f"{present[0]} is mapped without {[f for f in fields if f not in present][0]}",
                               given=dict(mapping.columns), fix=f"map both {' and '.join(fields)}")
    if not mapping.location_options:
        raise MappingError("the mapping gives no way to locate incidents", given=dict(mapping.columns),
                           fix="map lat and lng, easting and northing, postcode, or store_id (with a store list)")


def category_keys() -> tuple[str, ...]:
    """Return the harmmap category keys a ``[categories]`` label can map to."""
    return tuple(load_categories())


def match_columns(present: tuple[str, ...], wanted: Mapping[str, str], *, what: str, name: str,
                  fix: str) -> dict[str, str]:
    """Map each field of ``wanted`` (field -> column name) to the file's column.

    A column matches exactly, else ignoring case, spacing and punctuation.
    Raises :class:`SchemaError` naming every missing column and listing the
    file's columns.
    """
    loose = {normalise_label(c): c for c in reversed(present)}
    out, missing = {}, []
    for field_name, column in wanted.items():
        found = column if column in present else loose.get(normalise_label(column))
        if found is None:
            missing.append(f"{field_name} = {column!r}")
        else:
            out[field_name] = found
    if missing:
        raise SchemaError(f"{what} has no column(s) {', '.join(missing)}",
                          given=f"{name} with columns {list(present)}", fix=fix)
    return out
