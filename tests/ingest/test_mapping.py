"""Tests for harmmap.ingest.mapping: the retailer column-mapping TOML."""

from __future__ import annotations

import pytest

from harmmap.errors import InputFileError, MappingError
from harmmap.ingest.mapping import load_mapping

FULL = """
[columns]
source_ref = "Incident Ref"
date = "Incident Date"
time = "Incident Time"
category = "Category"
store_id = "Store No"
value_gbp = "Value (GBP)"
injury = "Injury"
lat = "Latitude"
lng = "Longitude"

[format]
dayfirst = true
sheet = "Incidents"
encoding = "cp1252"
true_values = ["Y", "Yes"]
false_values = ["N", "No", ""]

[categories]
"Shop theft" = "theft"
"Till snatch" = "robbery"
"""


def write(tmp_path, text: str):
    path = tmp_path / "mapping.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_full_file(tmp_path):
    mapping = load_mapping(write(tmp_path, FULL))
    assert mapping.columns["date"] == "Incident Date" and mapping.columns["store_id"] == "Store No"
    assert (mapping.dayfirst, mapping.sheet, mapping.encoding) == (True, "Incidents", "cp1252")
    assert mapping.true_values == ("y", "yes") and mapping.false_values == ("n", "no", "")
    assert dict(mapping.categories) == {"Shop theft": "theft", "Till snatch": "robbery"}
    assert mapping.location_options == ("latlng", "store")


def test_keyword_overrides_merge_over_the_file(tmp_path):
    mapping = load_mapping(write(tmp_path, FULL), columns={"date": "When", "postcode": "PC"}, dayfirst=False,
                           sheet="Other")
    assert mapping.columns["date"] == "When" and mapping.columns["category"] == "Category"
    assert mapping.columns["postcode"] == "PC"
    assert (mapping.dayfirst, mapping.sheet) == (False, "Other")


def test_columns_only_without_a_file():
    mapping = load_mapping(columns={"date": "D", "category": "C", "easting": "E", "northing": "N"})
    assert mapping.location_options == ("grid",) and mapping.dayfirst is True and mapping.encoding == "utf-8"


@pytest.mark.parametrize("text, message, fix", [
    ('[columns]\ndate = Incident Date\n', "line 2", "quotes"),
    ('[colums]\ndate = "D"\n', "unknown sections", "columns, format, categories"),
    ('[columns]\ndate = "D"\ncategory = "C"\nstore_id = "S"\nwhen = "W"\n', "unknown fields in \\[columns\\]: when",
     "source_ref"),
    ('[columns]\ndate = "D"\ncategory = "C"\nstore_id = "S"\n[format]\nday_first = true\n', "unknown keys", "dayfirst"),
    ('[columns]\ncategory = "C"\nstore_id = "S"\n', "date", "date ="),
    ('[columns]\ndate = "D"\ncategory = "C"\n', "no way to locate", "postcode"),
    ('[columns]\ndate = "D"\ncategory = "C"\nlat = "Y"\n', "lat is mapped without lng", "lat and lng"),
    ('[columns]\ndate = "D"\ncategory = "C"\nstore_id = "S"\n[format]\ndayfirst = "yes"\n', "must be bool", "true"),
    ('[columns]\ndate = "D"\ncategory = "C"\nstore_id = "S"\n[format]\nencoding = "klingon"\n', "encoding", "cp1252"),
    ('[columns]\ndate = "D"\ncategory = "C"\nstore_id = "S"\n[categories]\n"X" = "nope"\n', "unknown category",
     "theft"),
    ('[columns]\ndate = "D"\ncategory = "C"\nstore_id = 3\n', "must be a column name", "Column heading"),
    ('columns = 3\n', "must be a table", "[columns]"),
    ('[columns]\ndate = "D"\ncategory = "C"\nstore_id = "S"\n[format]\ntrue_values = ["y"]\nfalse_values = ["Y"]\n',
     "overlap", "only one"),
])
def test_errors_say_what_and_how_to_fix(tmp_path, text, message, fix):
    with pytest.raises(MappingError, match=message) as caught:
        load_mapping(write(tmp_path, text))
    assert fix in caught.value.fix


def test_unknown_keyword_column_field():
    with pytest.raises(MappingError, match="dat"):
        load_mapping(columns={"dat": "D", "category": "C", "store_id": "S"})


def test_missing_mapping_file(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        load_mapping(tmp_path / "nope.toml")
