"""The canonical schemas of harmmap, declared once.

Every reader turns its input into an :data:`INCIDENT_SCHEMA` table plus a table
of rejects (:data:`REJECT_COLUMNS`), each reject carrying one of the
:data:`REJECT_REASONS` codes.  Code after the readers trusts these schemas and
checks nothing again.

Incident columns
----------------
incident_id : int64
    Deterministic id: a hash of the source, the logical partition (force and
    month, or retailer organisation), the row's content and its ordinal among
    identical rows.  Re-loading the same content gives the same ids.
source : string
    ``"police_uk"`` or ``"retailer:<org_id>"``.
source_ref : string, nullable
    police.uk ``Crime ID`` (blank for anti-social behaviour) or the retailer's
    own incident reference.
police_ref : string, nullable
    For retailer rows: the police crime reference they were given (links to a
    police.uk ``Crime ID``).  Null for police.uk rows.
month : date32
    First day of the month the incident belongs to.
occurred_at : timestamp[s, Europe/London]
    When it happened, at the precision given by ``time_precision``: the first
    instant of the month for police.uk rows.
time_precision : string
    ``"month"``, ``"day"`` or ``"minute"``.
crime_type : string
    One of :data:`CRIME_TYPES` (police.uk's 14 categories).
offence : string
    A finer offence code (see ``harmmap/data/retailer_categories.toml``; for
    police.uk rows the snake_case crime type).
lat, lng : float64
    WGS84 latitude and longitude (degrees).
easting, northing : float64
    British National Grid (EPSG:27700) metres.
location_text, lsoa_code, outcome : string, nullable
    As published (police.uk ``Location``, ``LSOA code``, ``Last outcome category``).
store_id, org_id : string, nullable
    The retailer's store and organisation.
value_gbp : float64, nullable
    Value of goods stolen or damaged.
injury, weapon : bool, nullable
    Retailer flags.
cell : uint64
    H3 cell at the workspace base resolution (9 by default).
file_id, row_number : int64
    Provenance: the ingested file and the 1-based data row within it.
ref_key : uint64
    A 64-bit key of ``source_ref`` (0 when it is null): the first 64 bits of a
    police.uk Crime ID (itself a SHA-256 hex digest), else pandas' SipHash of
    the text (:func:`harmmap.ingest.identity.refs_to_keys`).  The counting
    rules compare references by this key, so they never read the text.

The place(s) an incident falls in are kept in a separate long table
(:data:`PLACE_ASSIGNMENT_SCHEMA`): places can overlap and can be imported after
the incidents.
"""

from __future__ import annotations

import pyarrow as pa

#: police.uk street-level crime categories, exactly as published.
CRIME_TYPES: tuple[str, ...] = (
    "Anti-social behaviour",
    "Bicycle theft",
    "Burglary",
    "Criminal damage and arson",
    "Drugs",
    "Other crime",
    "Other theft",
    "Possession of weapons",
    "Public order",
    "Robbery",
    "Shoplifting",
    "Theft from the person",
    "Vehicle crime",
    "Violence and sexual offences",
)

#: Older police.uk categories (before 2013) mapped to the current ones.
LEGACY_CRIME_TYPES: dict[str, str] = {
    "Violent crime": "Violence and sexual offences",
    "Violence and sexual offences": "Violence and sexual offences",
    "Public disorder and weapons": "Public order",
    "Other crime": "Other crime",
}

SOURCE_POLICE_UK = "police_uk"
RETAILER_PREFIX = "retailer:"

TIME_PRECISIONS: tuple[str, ...] = ("month", "day", "minute")

LONDON_TZ = "Europe/London"

INCIDENT_SCHEMA = pa.schema(
    [
        pa.field("incident_id", pa.int64(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("source_ref", pa.string()),
        pa.field("police_ref", pa.string()),
        pa.field("month", pa.date32(), nullable=False),
        pa.field("occurred_at", pa.timestamp("s", tz=LONDON_TZ), nullable=False),
        pa.field("time_precision", pa.string(), nullable=False),
        pa.field("crime_type", pa.string(), nullable=False),
        pa.field("offence", pa.string(), nullable=False),
        pa.field("lat", pa.float64(), nullable=False),
        pa.field("lng", pa.float64(), nullable=False),
        pa.field("easting", pa.float64(), nullable=False),
        pa.field("northing", pa.float64(), nullable=False),
        pa.field("location_text", pa.string()),
        pa.field("lsoa_code", pa.string()),
        pa.field("outcome", pa.string()),
        pa.field("store_id", pa.string()),
        pa.field("org_id", pa.string()),
        pa.field("value_gbp", pa.float64()),
        pa.field("injury", pa.bool_()),
        pa.field("weapon", pa.bool_()),
        pa.field("cell", pa.uint64(), nullable=False),
        pa.field("file_id", pa.int64(), nullable=False),
        pa.field("row_number", pa.int64(), nullable=False),
        pa.field("ref_key", pa.uint64(), nullable=False),
    ]
)

INCIDENT_COLUMNS: tuple[str, ...] = tuple(INCIDENT_SCHEMA.names)

#: Columns a reader fills in; ``cell``, ``easting``/``northing`` (or
#: ``lat``/``lng``), ``incident_id`` and ``file_id`` are added by geocoding and
#: the store.
PLACE_ASSIGNMENT_SCHEMA = pa.schema(
    [
        pa.field("incident_id", pa.int64(), nullable=False),
        pa.field("place_id", pa.string(), nullable=False),
    ]
)

#: Columns of the rejects table a reader returns (one row per rejected input row).
REJECT_COLUMNS: tuple[str, ...] = ("row_number", "reason", "detail", "raw")

#: Reason codes for rejected rows, with the text shown to users.
REJECT_REASONS: dict[str, str] = {
    "no_location": "no coordinates (police.uk 'No Location' or blank location)",
    "zero_coordinates": "coordinates are (0, 0), a common placeholder for 'unknown'",
    "lat_lng_swapped": "latitude and longitude look swapped (the swapped pair is in the UK)",
    "grid_as_degrees": "lat/lng hold British National Grid metres, not degrees",
    "outside_uk": "the location is outside the United Kingdom",
    "bad_coordinates": "coordinates are not numbers or are out of range",
    "bad_date": "the date or month cannot be parsed",
    "future_date": "the date is in the future",
    "unknown_crime_type": "the crime type / category is not a known one",
    "missing_value": "a required field is empty",
    "bad_value": "a field has a value of the wrong kind (e.g. text in a number column)",
    "postcode_not_found": "the postcode is not in the postcode lookup file",
    "encoding_error": "the row is not valid text in the file's encoding",
    "malformed_row": "the row has the wrong number of fields or broken quoting",
}

#: Bounding box of the United Kingdom (incl. Northern Ireland, Shetland, Scilly),
#: WGS84 degrees.  Points outside it are rejected as ``outside_uk``.
UK_BOUNDS = {"lat_min": 49.80, "lat_max": 60.95, "lng_min": -8.70, "lng_max": 1.80}

#: British National Grid extent (metres) used to recognise grid values.
BNG_BOUNDS = {"e_min": 0.0, "e_max": 700_000.0, "n_min": 0.0, "n_max": 1_300_000.0}

DEFAULT_RESOLUTION = 9


def conform_column(column, field: pa.Field):
    """Cast a column to ``field``'s type, keeping dictionary encoding of the same value type.

    Dictionary-encoded text (crime type, location, outcome, ...) stays encoded on
    the way to Parquet, which stores it as plain text with dictionary pages.
    """
    if pa.types.is_dictionary(column.type) and column.type.value_type == field.type:
        return column
    return column.cast(field.type)


def conform_incidents(table: pa.Table) -> pa.Table:
    """Return ``table`` with exactly the :data:`INCIDENT_SCHEMA` columns, in order, with their types."""
    columns = [conform_column(table[f.name], f) for f in INCIDENT_SCHEMA]
    return pa.table(columns, names=INCIDENT_SCHEMA.names)


def empty_incidents() -> pa.Table:
    """Return an empty table with :data:`INCIDENT_SCHEMA`."""
    return INCIDENT_SCHEMA.empty_table()
