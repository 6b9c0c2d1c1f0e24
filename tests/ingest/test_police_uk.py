"""police.uk reader: layouts, every reject reason, reconciliation, fuzzing."""

from __future__ import annotations

import gzip

import numpy as np
import pyarrow.compute as pc
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harmmap.errors import HarmmapError, SchemaError
from harmmap.ingest.police_uk import CURRENT_COLUMNS, read_police_uk, read_police_uk_files

HEADER = ",".join(CURRENT_COLUMNS)


def csv_bytes(*rows: str, header: str = HEADER, newline: str = "\r\n") -> bytes:
    return (newline.join([header, *rows]) + newline).encode("utf-8")


def row(crime_id="abc", month="2024-03", lng="-1.131600", lat="52.634500", location="On or near High Street",
        crime_type="Shoplifting", outcome="Under investigation", reported="Leicestershire Police") -> str:
    return f"{crime_id},{month},{reported},{reported},{lng},{lat},{location},E01025631,Blaby 002A,{crime_type},{outcome},"


def test_reads_a_clean_file_into_canonical_columns():
    result = read_police_uk(csv_bytes(row(), row(crime_id="", crime_type="Anti-social behaviour", outcome="")))
    table = result.incidents
    assert result.rows_read == 2 and table.num_rows == 2 and len(result.rejects) == 0
    first = table.slice(0, 1).to_pylist()[0]
    assert first["source"] == "police_uk" and first["source_ref"] == "abc"
    assert first["month"].isoformat() == "2024-03-01" and first["time_precision"] == "month"
    assert first["occurred_at"].isoformat() == "2024-03-01T00:00:00+00:00"
    assert (first["lat"], first["lng"]) == (52.6345, -1.1316)
    assert first["offence"] == "shoplifting" and first["outcome"] == "Under investigation"
    assert first["partition_key"] == "police_uk/leicestershire-police/2024-03"
    asb = table.slice(1, 1).to_pylist()[0]
    assert asb["source_ref"] is None and asb["outcome"] is None and asb["crime_type"] == "Anti-social behaviour"
    assert result.partition_keys == ("police_uk/leicestershire-police/2024-03",)


@pytest.mark.parametrize(
    ("bad_row", "reason"),
    [
        (row(lng="", lat="", location="No Location"), "no_location"),
        (row(lng="0", lat="0"), "zero_coordinates"),
        (row(lng="52.6345", lat="-1.1316"), "lat_lng_swapped"),
        (row(lng="452000", lat="303000"), "grid_as_degrees"),
        (row(lng="2.35", lat="48.85"), "outside_uk"),
        (row(lng="abc", lat="52.6"), "bad_coordinates"),
        (row(month="March 2024"), "bad_date"),
        (row(month="2024-13"), "bad_date"),
        (row(crime_type="Shop theft"), "unknown_crime_type"),
        ("only,three,fields", "malformed_row"),
    ],
)
def test_each_bad_row_is_rejected_with_its_reason(bad_row, reason):
    result = read_police_uk(csv_bytes(row(), bad_row, row(crime_id="xyz")))
    assert result.rows_read == 3 and result.incidents.num_rows == 2
    assert result.rejects["reason"].tolist() == [reason]
    assert result.rejects["row_number"].tolist() == [2]
    assert result.rejects["raw"].iloc[0]  # the original row is kept
    # the rows around the bad one keep their own row numbers
    assert result.incidents["row_number"].to_pylist() == [1, 3]


def test_unknown_crime_type_message_lists_the_known_ones():
    result = read_police_uk(csv_bytes(row(crime_type="Shop theft")))
    detail = result.rejects["detail"].iloc[0]
    assert "'Shop theft'" in detail and "Shoplifting" in detail and "Vehicle crime" in detail


def test_encoding_error_rejects_only_that_row():
    data = csv_bytes(row(), row(crime_id="x"), row(crime_id="y"))
    data = data.replace(b",x,", b",\xff\xfe,").replace(b"x,2024", b"\xff,2024")
    result = read_police_uk(data)
    assert result.rejects["reason"].tolist() == ["encoding_error"]
    assert result.rejects["row_number"].tolist() == [2]
    assert "\\xff" in result.rejects["raw"].iloc[0]
    assert result.incidents.num_rows == 2


def test_identical_rows_are_all_kept():
    same = row(crime_id="", crime_type="Anti-social behaviour", outcome="")
    result = read_police_uk(csv_bytes(same, same, same))
    assert result.incidents.num_rows == 3


def test_missing_columns_raise_a_schema_error_naming_them():
    with pytest.raises(SchemaError) as info:
        read_police_uk(b"Crime ID,Month,Location\r\nx,2024-01,here\r\n", "f.csv")
    message = str(info.value)
    assert "Longitude" in message and "f.csv" in message and "fix:" in message


def test_empty_file_is_a_schema_error():
    with pytest.raises(SchemaError):
        read_police_uk(b"", "empty.csv")


def test_header_only_file_has_no_rows():
    result = read_police_uk(csv_bytes())
    assert result.rows_read == 0 and result.incidents.num_rows == 0


def test_bom_and_lf_line_endings_are_accepted():
    result = read_police_uk(b"\xef\xbb\xbf" + csv_bytes(row(), newline="\n"))
    assert result.incidents.num_rows == 1


def test_quoted_commas_in_location():
    result = read_police_uk(csv_bytes(row(location='"On or near Park, The"')))
    assert result.incidents["location_text"].to_pylist() == ["On or near Park, The"]


def test_older_easting_northing_layout():
    header = "Month,Reported by,Falls within,Easting,Northing,Location,Crime type,Context"
    rows = ["2012-04,Avon and Somerset Constabulary,Avon and Somerset Constabulary,360667,169714,On or near Hengrove Lane,Burglary,",
            "2012-04,Avon and Somerset Constabulary,Avon and Somerset Constabulary,,,No Location,Burglary,",
            "2012-04,Avon and Somerset Constabulary,Avon and Somerset Constabulary,360667,169714,On or near X,Violent crime,"]
    result = read_police_uk(csv_bytes(*rows, header=header))
    table = result.incidents
    assert table.num_rows == 2 and result.rejects["reason"].tolist() == ["no_location"]
    assert table["easting"].to_pylist()[0] == 360667.0
    assert 51.4 < table["lat"].to_pylist()[0] < 51.5 and -2.6 < table["lng"].to_pylist()[0] < -2.5
    assert table["crime_type"].to_pylist()[1] == "Violence and sexual offences"
    assert any("Violent crime" in note for note in result.notes)
    assert table["partition_key"].to_pylist()[0] == "police_uk/avon-and-somerset-constabulary/2012-04"


def test_leicestershire_reconciles_exactly(shared_data):
    files = sorted((shared_data / "police_uk" / "leicestershire").glob("*.csv.gz"))
    assert len(files) == 35
    read = accepted = asb = 0
    reasons: dict[str, int] = {}
    for path in files:
        result = read_police_uk(gzip.decompress(path.read_bytes()), path.name)
        read += result.rows_read
        accepted += result.incidents.num_rows
        asb += pc.sum(pc.equal(result.incidents["crime_type"], "Anti-social behaviour")).as_py()
        for reason, count in result.rejected_by_reason.items():
            reasons[reason] = reasons.get(reason, 0) + count
    assert read == 301_838
    assert reasons == {"no_location": 7_463}
    assert accepted + sum(reasons.values()) == read
    assert asb > 30_000  # anti-social behaviour has no Crime ID and is kept


_CELLS = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(_CELLS, min_size=0, max_size=14), max_size=8), st.booleans())
def test_fuzzed_rows_only_raise_harmmap_errors(rows, keep_header):
    lines = [HEADER if keep_header else "a,b"] + [",".join(cells) for cells in rows]
    data = "\r\n".join(lines).encode("utf-8")
    try:
        result = read_police_uk(data, "fuzz.csv")
    except HarmmapError:
        return
    assert result.incidents.num_rows + len(result.rejects) == result.rows_read


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400))
def test_fuzzed_bytes_only_raise_harmmap_errors(noise):
    try:
        result = read_police_uk(csv_bytes(row()) + noise, "fuzz.csv")
    except HarmmapError:
        return
    assert result.incidents.num_rows + len(result.rejects) == result.rows_read


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-200, 200), st.floats(-200, 200)), min_size=1, max_size=20))
def test_coordinates_are_either_in_the_uk_or_rejected(points):
    rows = [row(lat=f"{lat:.6f}", lng=f"{lng:.6f}") for lat, lng in points]
    result = read_police_uk(csv_bytes(*rows))
    lat = np.array(result.incidents["lat"].to_pylist())
    assert ((lat >= 49.8) & (lat <= 60.95)).all()
    assert result.incidents.num_rows + len(result.rejects) == len(points)


def test_huge_field_is_handled():
    result = read_police_uk(csv_bytes(row(location="x" * 200_000)))
    assert result.incidents.num_rows == 1


# --- several files validated together -------------------------------------------------------------

OLDER_HEADER = "Month,Reported by,Falls within,Easting,Northing,Location,Crime type,Context"
_FILE_KINDS = {
    "clean": lambda i: csv_bytes(row(crime_id=f"{i:064x}"), row(crime_id="", crime_type="Anti-social behaviour")),
    "rejects": lambda i: csv_bytes(row(lng="", lat="", location="No Location"), row(month="2024-13"),
                                   row(crime_type="Shop theft"), row(lng="0", lat="0"), row(crime_id=f"{i:x}")),
    "no force": lambda i: csv_bytes(row(reported="", crime_id=f"{i}")),
    "other force": lambda i: csv_bytes(row(reported="Derbyshire Constabulary", month="2024-02")),
    "older": lambda i: csv_bytes("2012-04,Avon and Somerset Constabulary,x,360667,169714,On or near Y,Violent crime,",
                                 "2012-04,Avon and Somerset Constabulary,x,,,No Location,Burglary,", header=OLDER_HEADER),
    "bad utf-8": lambda i: csv_bytes(row()) + b"x\xff\xfe,2024-03,,,,,,,,,,\r\n" + csv_bytes(row())[len(HEADER) + 2:],
    "malformed": lambda i: csv_bytes(row(), "only,three,fields", row(crime_id="b")),
    "quoted": lambda i: csv_bytes(row(location='"On or near Car Park, Mill Lane"')),
    "header only": lambda i: csv_bytes(),
    "twins": lambda i: csv_bytes(*[row(crime_id="", crime_type="Anti-social behaviour")] * 3),
}


def _frames(result):
    incidents = result.incidents.to_pandas()  # values compared, not dictionaries (shared when read together)
    incidents = incidents.astype({c: object for c in incidents.columns if isinstance(incidents[c].dtype, pd.CategoricalDtype)})
    return (incidents, result.rejects, result.rows_read, result.partition_keys, result.notes)


def _same(a, b):
    for x, y in zip(_frames(a), _frames(b)):
        if isinstance(x, pd.DataFrame):
            pd.testing.assert_frame_equal(x.reset_index(drop=True), y.reset_index(drop=True))
        else:
            assert x == y


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(sorted(_FILE_KINDS)), min_size=1, max_size=8))
def test_files_read_together_give_what_each_file_gives_alone(kinds):
    items = [(_FILE_KINDS[kind](i), f"2024-03-force{i}-street.csv") for i, kind in enumerate(kinds)]
    together = read_police_uk_files(items)
    assert len(together) == len(items)
    for (data, name), result in zip(items, together):
        _same(result, read_police_uk(data, name))


def test_a_file_that_is_not_police_uk_still_raises_when_read_together():
    with pytest.raises(SchemaError):
        read_police_uk_files([(csv_bytes(row()), "a.csv"), (b"x,y\r\n1,2\r\n", "b.csv")])
