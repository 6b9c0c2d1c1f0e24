"""Tests for harmmap.ingest.tables: safe CSV/XLSX opening."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import zipfile

import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harmmap.errors import HarmmapError, InputFileError
from harmmap.ingest import xlsx
from harmmap.ingest.tables import read_table, rows_to_csv_text
from harmmap.schema import REJECT_COLUMNS


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def xlsx_bytes(rows, title="Sheet") -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_plain_csv_every_cell_a_string_or_na(tmp_path):
    raw = read_table(write(tmp_path, "a.csv", b"Ref,Value\nA1,12.5\nA2,\n"))
    assert raw.columns == ("Ref", "Value")
    assert raw.frame["Value"].tolist()[0] == "12.5" and pd.isna(raw.frame["Value"][1])
    assert all(isinstance(dtype, pd.StringDtype) for dtype in raw.frame.dtypes)
    assert raw.row_numbers.tolist() == [1, 2] and raw.rows_read == 2
    assert list(raw.bad_rows.columns) == list(REJECT_COLUMNS) and raw.bad_rows.empty


def test_bom_and_crlf_and_quoted_newline(tmp_path):
    raw = read_table(write(tmp_path, "a.csv", b'\xef\xbb\xbfRef,Note\r\nA1,"two\nlines"\r\nA2,x\r\n'))
    assert raw.columns == ("Ref", "Note")
    assert raw.frame["Note"].tolist() == ["two\nlines", "x"]


def test_cp1252_needs_the_encoding_option(tmp_path):
    path = write(tmp_path, "a.csv", "Ref,Store\nA1,Caf\u00e9 \u2013 \u00a3\n".encode("cp1252"))
    assert read_table(path, encoding="cp1252").frame["Store"][0] == "Caf\u00e9 \u2013 \u00a3"
    utf8 = read_table(path)
    assert utf8.bad_rows["reason"].tolist() == ["encoding_error"] and utf8.rows_read == 1
    undefined = read_table(write(tmp_path, "b.csv", b"Ref,Store\nA1,\x81\nA2,\x80\n"), encoding="cp1252")
    assert undefined.bad_rows["reason"].tolist() == ["encoding_error"] and undefined.frame["Store"][0] == "\u20ac"


def test_encoding_error_rejects_only_that_row_with_escaped_raw_text(tmp_path):
    raw = read_table(write(tmp_path, "a.csv", b"Ref,Store\nA1,ok\nA2,Caf\xe9\nA3,fine\n"))
    assert raw.frame["Ref"].tolist() == ["A1", "A3"] and raw.row_numbers.tolist() == [1, 3]
    bad = raw.bad_rows.iloc[0]
    assert (bad["row_number"], bad["reason"], bad["raw"]) == (2, "encoding_error", "A2,Caf\\xe9")


def test_malformed_rows_wrong_field_count_and_broken_quote(tmp_path):
    raw = read_table(write(tmp_path, "a.csv", b'Ref,Store\nA1,ok\nA2\nA3,x,y\nA4,"open\nA5,fine\n'))
    assert raw.frame["Ref"].tolist() == ["A1", "A5"] and raw.row_numbers.tolist() == [1, 5]
    assert raw.bad_rows["reason"].tolist() == ["malformed_row"] * 3
    assert raw.bad_rows["row_number"].tolist() == [2, 3, 4] and raw.rows_read == 5
    assert raw.bad_rows["detail"].tolist()[:2] == ["1 fields where the header has 2", "3 fields where the header has 2"]
    assert raw.bad_rows["raw"].tolist()[2] == 'A4,"open'


def test_blank_rows_dropped_and_semicolon_delimiter(tmp_path):
    raw = read_table(write(tmp_path, "a.csv", b"Ref;Store\nA1;x\n\n;\nA2;y\n"))
    assert raw.frame["Ref"].tolist() == ["A1", "A2"] and raw.row_numbers.tolist() == [1, 3]


def test_trailing_delimiters_are_ignored_when_blank(tmp_path):
    fast = read_table(write(tmp_path, "a.csv", b"Ref,Store,\nA1,x,\nA2,y,\n"))
    assert fast.columns == ("Ref", "Store") and fast.frame["Store"].tolist() == ["x", "y"] and fast.bad_rows.empty
    mixed = read_table(write(tmp_path, "b.csv", b"Ref,Store\nA1,x,\nA2,y\nA3,z,oops\n"))
    assert mixed.frame["Ref"].tolist() == ["A1", "A2"]
    assert mixed.bad_rows[["row_number", "reason"]].values.tolist() == [[3, "malformed_row"]]


def test_classic_mac_line_endings(tmp_path):
    raw = read_table(write(tmp_path, "a.csv", b"Ref,Store\rA1,x\rA2,y\r"))
    assert raw.frame["Ref"].tolist() == ["A1", "A2"] and raw.row_numbers.tolist() == [1, 2]


def test_formula_like_text_stays_text(tmp_path):
    text = b'Ref,Note\n=HYPERLINK("http://x"),+44 1234\n@SUM(A1),-2+3\n'
    raw = read_table(write(tmp_path, "a.csv", text))
    assert raw.frame.to_dict("list") == {"Ref": ['=HYPERLINK("http://x")', "@SUM(A1)"], "Note": ["+44 1234", "-2+3"]}
    # a workbook formula is never evaluated: only a value Excel cached is read (none here: blank)
    book = xlsx_bytes([["Ref", "Total"], ["A1", "=1+2"], ["A2", "=cmd|' /C calc'!A0"]])
    cells = read_table(write(tmp_path, "b.xlsx", book))
    assert cells.frame["Ref"].tolist() == ["A1", "A2"] and cells.frame["Total"].isna().all()


def test_duplicate_and_blank_header_names_made_unique(tmp_path):
    raw = read_table(write(tmp_path, "a.csv", b"Ref,Ref,,Note\n1,2,3,4\n"))
    assert raw.columns == ("Ref", "Ref.2", "column_3", "Note")


def test_gzip_is_decompressed_whatever_the_name(tmp_path):
    raw = read_table(write(tmp_path, "report.xlsx", gzip.compress(b"Ref,Store\nA1,x\n")))
    assert raw.frame["Store"].tolist() == ["x"]


@pytest.mark.parametrize("data, message", [
    (b"", "empty"), (b"\n\n  \n", "empty"), (b"1,2,3\n4,5,6\n", "no header"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, ".xls"),
    (b"PK\x03\x04garbage", "zip"), (b"\x1f\x8bnot gzip", "gzip"),
])
def test_unreadable_files_raise_input_file_error_with_a_fix(tmp_path, data, message):
    with pytest.raises(InputFileError, match=message) as caught:
        read_table(write(tmp_path, "a.csv", data))
    assert caught.value.fix


def test_point_layers_by_content_whatever_the_name(tmp_path):
    # GDAL picks its driver by extension; read_table promises type by content
    geojson = (b'{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"id": "A"}, '
               b'"geometry": {"type": "Point", "coordinates": [-1.1, 52.6]}}]}')
    raw = read_table(write(tmp_path, "stores.csv", geojson))
    assert raw.frame[["id", "lat", "lng"]].values.tolist() == [["A", "52.6", "-1.1"]]
    with pytest.raises(InputFileError):
        read_table(write(tmp_path, "broken.csv", b"SQLite format 3\x00"))


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        read_table(tmp_path / "nope.csv")
    with pytest.raises(InputFileError, match="folder"):
        read_table(tmp_path)


def test_xlsx_by_content_with_types_as_text(tmp_path):
    rows = [["Ref", "When", "Value", "Flag", "Store"],
            ["A1", dt.datetime(2024, 3, 5, 14, 30), 12.5, True, 1001.0],
            [None, None, None, None, None],
            ["A2", dt.date(2024, 3, 6), 3, False, "S2", "extra"],
            ["A3", 45356, None, None, "S3"]]
    raw = read_table(write(tmp_path, "incidents.csv", xlsx_bytes(rows)))
    assert raw.frame.fillna("").to_dict("list") == {
        "Ref": ["A1", "A3"], "When": ["2024-03-05 14:30:00", "45356"], "Value": ["12.5", ""],
        "Flag": ["TRUE", ""], "Store": ["1001", "S3"]}
    assert raw.row_numbers.tolist() == [1, 4]
    assert raw.bad_rows[["row_number", "reason"]].values.tolist() == [[3, "malformed_row"]]


def test_xlsx_sheet_choice(tmp_path):
    book = openpyxl.Workbook()
    book.active.append(["Other"])
    second = book.create_sheet("Incidents")
    second.append(["Ref"])
    second.append(["A1"])
    path = tmp_path / "a.xlsx"
    book.save(path)
    assert read_table(path, sheet="Incidents").frame["Ref"].tolist() == ["A1"]
    with pytest.raises(InputFileError, match="no sheet named"):
        read_table(path, sheet="Nope")


def test_openpyxl_uses_defusedxml():
    assert openpyxl.DEFUSEDXML is True


def _rewrite_member(data: bytes, member: str, new: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, new if info.filename == member else src.read(info))
    return out.getvalue()


LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
                     for i in range(1, 10))
          + b"]>")


def test_billion_laughs_workbook_is_refused(tmp_path):
    data = xlsx_bytes([["Ref"], ["A1"]])
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml")
    assert b">A1</t>" in sheet
    bomb = _rewrite_member(data, "xl/worksheets/sheet1.xml", LAUGHS + sheet.replace(b">A1</t>", b">&lol9;</t>"))
    with pytest.raises(InputFileError, match="XML bomb"):
        read_table(write(tmp_path, "bomb.xlsx", bomb))


def test_billion_laughs_refused_by_openpyxl_itself(tmp_path, monkeypatch):
    """Without our own pre-scan, defusedxml inside openpyxl still refuses the entities."""
    data = xlsx_bytes([["Ref"], ["A1"]])
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        book_xml = archive.read("xl/workbook.xml")
    book_xml = book_xml.replace(b"<workbookPr", b"<x>&lol9;</x><workbookPr")
    bomb = _rewrite_member(data, "xl/workbook.xml", LAUGHS + book_xml)
    monkeypatch.setattr(xlsx, "_check_zip", lambda data, name: None)
    with pytest.raises(InputFileError, match="cannot open the XLSX"):
        read_table(write(tmp_path, "bomb.xlsx", bomb))


def test_zip_bomb_ratio_and_size_refused(tmp_path, monkeypatch):
    data = _rewrite_member(xlsx_bytes([["Ref"], ["A1"]]), "docProps/app.xml", b" " * (4 * 1024**2))
    with pytest.raises(InputFileError, match="zip bomb"):
        read_table(write(tmp_path, "ratio.xlsx", data))
    monkeypatch.setattr(xlsx, "_MAX_XLSX_BYTES", 1000)
    with pytest.raises(InputFileError, match="zip bomb"):
        read_table(write(tmp_path, "size.xlsx", xlsx_bytes([["Ref"], ["A1"]])))


def test_zip_that_is_not_a_workbook(tmp_path):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("content.xml", "<x/>")
    with pytest.raises(InputFileError, match="not an XLSX"):
        read_table(write(tmp_path, "a.ods", out.getvalue()))


def test_rows_to_csv_text_quotes_minimally():
    frame = pd.DataFrame({"a": ["x", 'say "hi"', None], "b": ["1,2", "line\nbreak", "z"]}, dtype="string")
    assert rows_to_csv_text(frame) == ['x,"1,2"', '"say ""hi""","line\nbreak"', ",z"]


SMALL_XLSX = xlsx_bytes([["Ref", "Date"], ["A1", dt.datetime(2024, 3, 5)], ["A2", 3.5]])
FIELD = st.one_of(st.text(max_size=12),
                  st.sampled_from(['"', '""', ",", "\n", "\r\n", "x" * 5000, "y" * 140_000, "\u00e9", "\0"]))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(
    st.binary(max_size=400),
    st.binary(max_size=200).map(lambda b: b"PK\x03\x04" + b),
    st.binary(max_size=200).map(gzip.compress),
    st.integers(0, len(SMALL_XLSX)).map(lambda cut: SMALL_XLSX[:cut]),
    st.tuples(st.integers(100, len(SMALL_XLSX) - 1), st.binary(min_size=1, max_size=8)).map(
        lambda t: SMALL_XLSX[:t[0]] + t[1] + SMALL_XLSX[t[0] + len(t[1]):]),
    st.lists(st.lists(st.one_of(st.none(), st.integers(), st.floats(allow_nan=False),
                                st.text(st.characters(min_codepoint=32), max_size=8)), max_size=4),
             max_size=5).map(xlsx_bytes),
    st.tuples(st.lists(st.lists(FIELD, max_size=5), max_size=8), st.sampled_from(["utf-8", "cp1252", "utf-16"])).map(
        lambda t: "\n".join(",".join(r) for r in t[0]).encode(t[1], errors="replace")),
))
def test_fuzz_only_harmmap_errors_and_rows_add_up(tmp_path, data):
    path = write(tmp_path, "fuzz.csv", data)
    try:
        raw = read_table(path)
    except HarmmapError:
        return
    assert raw.rows_read == len(raw.frame) + len(raw.bad_rows)
    assert len(raw.row_numbers) == len(raw.frame)
    numbers = list(raw.row_numbers) + list(raw.bad_rows["row_number"])
    assert len(numbers) == len(set(numbers)) and all(n >= 1 for n in numbers)
    assert set(raw.bad_rows["reason"]) <= {"encoding_error", "malformed_row"}
