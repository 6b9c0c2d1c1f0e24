"""Files read in groups and big files read in pieces store exactly what one-by-one whole reads store."""

from __future__ import annotations

import contextlib
import random

import pandas as pd
import pytest

import harmmap.ingest.groups as groups
import harmmap.ingest.police_uk as police_uk
from harmmap.ingest.pipeline import ingest_files
from harmmap.ingest.police_uk import POLICE_UK_PIECES, read_police_uk, split_police_uk
from harmmap.ingest.prepare import merge_notes
from harmmap.ingest.sources import InputFile
from harmmap.store.incidents import read_incidents
from harmmap.store.workspace import connect, init_workspace
from tests.ingest.test_police_uk import csv_bytes, row

MONTHS = ("2024-01", "2024-02", "2024-03")


def _big_file(seed: int, n: int = 3_000, quoted: bool = False, months=MONTHS) -> bytes:
    """Rows of three months in random order, with repeats, ASB twins, no-location rows and (optionally) quotes."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        month = rng.choice(months)
        kind = rng.random()
        if kind < 0.25:  # identical anti-social behaviour reports: distinct incidents
            rows.append(row(crime_id="", month=month, crime_type="Anti-social behaviour", outcome="",
                            lat="52.634500", lng="-1.131600"))
        elif kind < 0.30:
            rows.append(row(crime_id=f"{i:064x}", month=month, lat="", lng="", location="No Location"))
        elif kind < 0.35:  # a Crime ID published twice
            rows.append(row(crime_id=f"{7:064x}", month=month))
        else:
            location = '"On or near Car Park, Mill Lane"' if quoted and kind > 0.9 else "On or near High Street"
            rows.append(row(crime_id=f"{i:064x}", month=month, lat=f"52.{6300 + rng.randrange(200)}",
                            lng=f"-1.{1300 + rng.randrange(200)}", location=location))
    return csv_bytes(*rows)


def _stored(ws) -> tuple[pd.DataFrame, pd.DataFrame, list]:
    incidents = read_incidents(ws, include_uncounted=True).sort_values("incident_id").reset_index(drop=True)
    with contextlib.closing(connect(ws)) as conn:
        rejects = pd.read_sql("SELECT file_id, row_number, reason, detail, raw FROM rejects"
                              " ORDER BY file_id, row_number", conn)
        files = conn.execute("SELECT name, rows_read, accepted, rejected FROM files ORDER BY file_id").fetchall()
    return incidents, rejects, files


def _assert_same_store(a, b) -> None:
    for x, y in zip(_stored(a), _stored(b)):
        if isinstance(x, pd.DataFrame):
            pd.testing.assert_frame_equal(x, y)
        else:
            assert x == y


def _ingest(ws, files: dict[str, bytes], **options) -> dict:
    inputs = [InputFile(name, lambda data=data: data) for name, data in files.items()]
    return ingest_files(ws, "police_uk", inputs, read_police_uk, **options).to_dict()


@pytest.fixture
def small_pieces(monkeypatch):
    monkeypatch.setattr(groups, "PIECE_BYTES", 40_000)
    monkeypatch.setattr(police_uk, "BATCH_BYTES", 15_000)


@pytest.mark.parametrize("quoted", [False, True])
def test_a_big_file_read_in_pieces_stores_what_a_whole_read_stores(tmp_path, small_pieces, quoted):
    data = {"2024-01-leicestershire-street.csv": _big_file(1, quoted=quoted)}
    whole, pieces = init_workspace(tmp_path / "whole"), init_workspace(tmp_path / "pieces")
    a, b = _ingest(whole, data), _ingest(pieces, data, pieces=POLICE_UK_PIECES)
    assert a == b
    _assert_same_store(whole, pieces)
    with contextlib.closing(connect(pieces)) as conn:
        paths = conn.execute("SELECT count(DISTINCT path) FROM segments WHERE active = 1").fetchone()[0]
        per_month = conn.execute("SELECT max(n) FROM (SELECT count(*) n FROM segments WHERE active = 1"
                                 " GROUP BY partition_key)").fetchone()[0]
    assert paths > 3 and per_month > 1  # several pieces, each month spread over them


def test_a_newer_vintage_replaces_every_piece_of_a_partition(tmp_path, small_pieces):
    ws = init_workspace(tmp_path / "ws")
    first = _big_file(2)
    _ingest(ws, {"2024-01-leicestershire-street.csv": first}, pieces=POLICE_UK_PIECES)
    before = read_incidents(ws, include_uncounted=True)
    newer = first.replace(b"Under investigation", b"Court result unavailable")
    report = _ingest(ws, {"2024-01-leicestershire-street.csv (newer)": newer}, pieces=POLICE_UK_PIECES)
    after = read_incidents(ws, include_uncounted=True)
    assert len(after) == len(before) and set(after["incident_id"]) == set(before["incident_id"])
    assert sorted(r["partition_key"] for r in report["replaced"]) == [f"police_uk/leicestershire-police/{m}"
                                                                      for m in MONTHS]
    assert sum(r["outcome_changed"] for r in report["replaced"]) == (after["outcome"] == "Court result unavailable").sum()
    with contextlib.closing(connect(ws)) as conn:
        files = conn.execute("SELECT DISTINCT file_id FROM segments WHERE active = 1").fetchall()
    assert files == [(2,)]


def test_a_cut_inside_a_quoted_field_falls_back_to_a_whole_read(tmp_path, small_pieces, monkeypatch):
    body = [row(crime_id=f"{i:064x}", location='"On or near\nMill Lane"' if i % 3 == 0 else "On or near X")
            for i in range(600)]  # newlines inside quotes
    data = csv_bytes(*body, newline="\n")

    def cut_inside(size: int) -> bool:
        return any(data[:end].count(b'"') % 2 for _, end in split_police_uk(data, size)[:-1])

    size = next(size for size in range(30_000, 60_000, 101) if cut_inside(size))
    monkeypatch.setattr(groups, "PIECE_BYTES", size)
    whole, pieces = init_workspace(tmp_path / "whole"), init_workspace(tmp_path / "pieces")
    name = "2024-03-leicestershire-street.csv"
    report = _ingest(whole, {name: data})
    assert report == _ingest(pieces, {name: data}, pieces=POLICE_UK_PIECES)
    assert report["accepted"] == 600 and report["rejected"] == 0
    pd.testing.assert_frame_equal(_stored(whole)[0], _stored(pieces)[0])


def test_spans_cover_the_rows_exactly():
    data = _big_file(3)
    spans = split_police_uk(data, 10_000)
    header_end = data.index(b"\n") + 1
    assert spans[0][0] == header_end and spans[-1][1] == len(data)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert all(data[end - 1:end] == b"\n" for _, end in spans)


@pytest.mark.parametrize("together", [None, POLICE_UK_PIECES])  # with POLICE_UK_PIECES: validated as one table
def test_grouped_files_store_what_files_read_one_by_one_store(tmp_path, together):
    files = {f"2024-0{m}-force{f}-street.csv": _big_file(10 * m + f, n=200, months=(f"2024-0{m}",)).replace(
        b"Leicestershire Police", f"Force {f}".encode()) for m in (1, 2, 3) for f in (1, 2)}
    files["2024-04-force3-street.csv"] = csv_bytes(row(reported="", month="2024-04"), row(month="2024-13"))
    one, grouped = init_workspace(tmp_path / "one"), init_workspace(tmp_path / "grouped")
    a = _ingest(one, files, group_bytes=1)
    b = _ingest(grouped, files, pieces=together)
    assert a == b
    _assert_same_store(one, grouped)
    with contextlib.closing(connect(grouped)) as conn:
        assert conn.execute("SELECT count(DISTINCT path) FROM segments").fetchone()[0] == 1


def test_two_vintages_in_one_group_do_not_share_a_segment_file(tmp_path):
    first = _big_file(4, n=300)
    newer = first.replace(b"Under investigation", b"Court result unavailable")
    ws = init_workspace(tmp_path / "ws")
    report = _ingest(ws, {"old.csv": first, "new.csv": newer, "old again.csv": first})
    assert report["files_ingested"] == 2 and report["duplicates_skipped"] == 1
    assert len(report["replaced"]) == 3 and all(r["file"] == "new.csv" for r in report["replaced"])
    stored = read_incidents(ws, include_uncounted=True)
    assert len(stored) == report["accepted"] // 2 and (stored["file_id"] == 2).all()


def test_notes_that_differ_only_in_a_count_are_summed():
    pieces = [("3 rows of the older category 'Violent crime' mapped", "a note"),
              ("4 rows of the older category 'Violent crime' mapped", "a note", "2 rows of x")]
    assert merge_notes(pieces) == ("7 rows of the older category 'Violent crime' mapped", "a note", "2 rows of x")


def test_a_big_file_hashed_while_read_is_still_found_duplicate(tmp_path, small_pieces):
    big = _big_file(5)
    small = {f"2024-0{m}-x-street.csv": _big_file(m, n=40, months=(f"2024-0{m}",)).replace(
        b"Leicestershire Police", b"Small Force") for m in (1, 2)}
    files = {"a.csv": small["2024-01-x-street.csv"], "big.csv": big, "big again.csv": big,
             "b.csv": small["2024-02-x-street.csv"]}
    ws = init_workspace(tmp_path / "ws")
    first = _ingest(ws, files, pieces=POLICE_UK_PIECES)
    assert [f["status"] for f in first["files"]] == ["ingested", "ingested", "duplicate", "ingested"]
    assert first["files"][2]["duplicate_of"].startswith("big.csv (")
    before = _stored(ws)
    again = _ingest(ws, {"big renamed.csv": big}, pieces=POLICE_UK_PIECES)
    assert again["duplicates_skipped"] == 1 and again["accepted"] == 0
    pd.testing.assert_frame_equal(before[0], _stored(ws)[0])
    one = init_workspace(tmp_path / "one")
    assert _ingest(one, files, group_bytes=1)["accepted"] == first["accepted"]
    # the same rows; file ids may differ: a big file found duplicate only once hashed leaves a gap
    pd.testing.assert_frame_equal(_stored(one)[0].drop(columns="file_id"), before[0].drop(columns="file_id"))


def test_police_retailer_links_are_reported_whichever_is_loaded_first(tmp_path):
    from harmmap.ingest.mapping import load_mapping
    from harmmap.ingest.retailer import read_retailer_incidents
    from harmmap.ingest.sources import expand_paths
    from harmmap.ingest.stores import read_stores
    from harmmap.simulate import simulate
    from harmmap.store.places import load_stores, save_stores

    summary = simulate(tmp_path / "sim", seed=3, months=4, incidents_per_month=3_000)
    org = summary.org_id
    incidents = tmp_path / "sim" / "retailer" / f"{org}_incidents.csv"
    mapping = load_mapping(tmp_path / "sim" / "retailer" / f"{org}_mapping.toml")

    def load(ws, order):
        save_stores(ws, org, read_stores(tmp_path / "sim" / "stores" / f"{org}_stores.csv", org_id=org).stores)
        known = load_stores(ws, org)
        reader = lambda data, name: read_retailer_incidents(incidents, org_id=org, mapping=mapping, stores=known)
        reports = {}
        for what in order:
            if what == "police":
                reports[what] = ingest_files(ws, "police_uk", expand_paths([tmp_path / "sim" / "police_uk"]),
                                             read_police_uk, pieces=POLICE_UK_PIECES).to_dict()
            else:
                reports[what] = ingest_files(ws, "retailer:" + org, expand_paths([incidents]), reader).to_dict()
        return reports

    police_first = load(init_workspace(tmp_path / "a"), ["police", "retail"])
    retail_first = load(init_workspace(tmp_path / "b"), ["retail", "police"])
    assert police_first["police"]["files_ingested"] > 4  # several force files, so several per group
    assert police_first["retail"]["linked"] > 0
    assert retail_first["police"]["linked"] == police_first["retail"]["linked"]
