"""Counting rules: each incident once (repeats, re-exports, police<->retailer links)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from harmmap.store.incidents import count_rules


def table(rows: list[tuple]) -> pa.Table:
    names = ["incident_id", "source", "source_ref", "police_ref", "month", "file_id", "row_number"]
    columns = list(zip(*rows))
    types = [pa.int64(), pa.string(), pa.string(), pa.string(), pa.date32(), pa.int64(), pa.int64()]
    return pa.table({n: pa.array(list(c), t) for n, c, t in zip(names, columns, types)})


M1, M2 = dt.date(2024, 1, 1), dt.date(2024, 2, 1)


def test_repeated_crime_id_counts_the_earliest_row():
    rules = count_rules(table([
        (1, "police_uk", "A", None, M2, 2, 1),
        (2, "police_uk", "A", None, M1, 1, 5),
        (3, "police_uk", None, None, M1, 1, 6),
        (4, "police_uk", None, None, M1, 1, 7),  # identical ASB rows: both count
    ]))
    assert rules["counted"].tolist() == [False, True, True, True]
    assert rules["not_counted_reason"].tolist()[0] == "repeat_crime_id"


def test_newer_retailer_file_wins_for_the_same_reference():
    rules = count_rules(table([
        (1, "retailer:acme", "R1", None, M1, 3, 1),
        (2, "retailer:acme", "R1", None, M1, 4, 9),
        (3, "retailer:other", "R1", None, M1, 5, 1),  # another organisation's R1 is a different incident
    ]))
    assert rules["counted"].tolist() == [False, True, True]
    assert rules["not_counted_reason"].tolist()[0] == "superseded_by_newer_file"


def test_police_row_linked_to_a_retailer_incident_counts_once():
    rules = count_rules(table([
        (1, "police_uk", "C1", None, M1, 1, 1),
        (2, "police_uk", "C2", None, M1, 1, 2),
        (3, "retailer:acme", "R1", "C1", M1, 2, 1),
    ]))
    assert rules["counted"].tolist() == [False, True, True]
    assert rules["not_counted_reason"].tolist()[0] == "linked_to_retailer"
    assert rules["linked_incident_id"].tolist()[0] == 3


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["police_uk", "retailer:a"]), st.sampled_from([None, "A", "B", "C"]),
                          st.sampled_from([None, "A", "B"]), st.sampled_from([M1, M2]), st.integers(1, 3)),
                min_size=1, max_size=30), st.randoms())
def test_row_order_does_not_change_what_counts(rows, rnd):
    full = [(i, s, r, p if s != "police_uk" else None, m, f, i) for i, (s, r, p, m, f) in enumerate(rows)]
    shuffled = full[:]
    rnd.shuffle(shuffled)
    a = count_rules(table(full)).assign(id=[r[0] for r in full]).set_index("id").sort_index()
    b = count_rules(table(shuffled)).assign(id=[r[0] for r in shuffled]).set_index("id").sort_index()
    assert a["counted"].tolist() == b["counted"].tolist()
    police_refs = {r[2] for r, ok in zip(full, a["counted"]) if ok and r[1] == "police_uk" and r[2]}
    assert len(police_refs) == sum(ok and r[1] == "police_uk" and r[2] is not None for r, ok in zip(full, a["counted"]))


def test_read_by_source_and_retailer_wildcard(tmp_path):
    from harmmap.ingest.pipeline import ingest_files
    from harmmap.ingest.police_uk import read_police_uk
    from harmmap.ingest.sources import InputFile
    from harmmap.store.incidents import read_incident_table
    from harmmap.store.workspace import init_workspace
    from tests.ingest.test_police_uk import csv_bytes, row

    ws = init_workspace(tmp_path / "ws")
    data = csv_bytes(row(), row(crime_id="b"))
    ingest_files(ws, "police_uk", [InputFile("2024-03-x-street.csv", lambda: data)], read_police_uk)
    assert read_incident_table(ws, ["incident_id"], sources=["police_uk"]).num_rows == 2
    assert read_incident_table(ws, ["incident_id"], sources=["retailer:*"]).num_rows == 0
    assert read_incident_table(ws, ["incident_id"], sources=["police_uk", "police_uk"]).num_rows == 2


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 10**6), st.sampled_from(["police_uk", "retailer:acme", "retailer:bo"]),
                          st.one_of(st.none(), st.sampled_from(["A", "B", "0123456789abcdef" * 4])),
                          st.one_of(st.none(), st.sampled_from(["A", "0123456789abcdef" * 4])),
                          st.sampled_from([M1, M2]), st.integers(1, 4), st.integers(1, 50)),
                min_size=1, max_size=30, unique_by=lambda r: r[0]))
def test_stored_reference_keys_count_as_the_text_does(rows):
    from harmmap.ingest.identity import refs_to_keys

    text = table(rows)
    keyed = text.append_column("ref_key", pa.array(refs_to_keys(text["source_ref"]), pa.uint64())).drop_columns(
        ["source_ref"])
    a, b = count_rules(text), count_rules(keyed)
    assert a["counted"].tolist() == b["counted"].tolist()
    assert a["not_counted_reason"].astype(object).tolist() == b["not_counted_reason"].astype(object).tolist()
    assert a["linked_incident_id"].tolist() == b["linked_incident_id"].tolist()


def test_segments_written_before_ref_key_are_read_with_it_derived(tmp_path, shared_data):
    import pyarrow.parquet as pq

    from harmmap.ingest.pipeline import ingest_files
    from harmmap.ingest.police_uk import POLICE_UK_PIECES, read_police_uk
    from harmmap.ingest.sources import expand_paths
    from harmmap.store.incidents import read_incidents
    from harmmap.store.workspace import init_workspace

    ws = init_workspace(tmp_path / "ws")
    paths = sorted((shared_data / "police_uk" / "city_of_london").glob("*.csv.gz"))[:6]
    ingest_files(ws, "police_uk", expand_paths(paths), read_police_uk, pieces=POLICE_UK_PIECES)
    before = read_incidents(ws, include_uncounted=True)
    for path in (ws.root / "segments" / "incidents").glob("*.parquet"):  # as an older harmmap wrote them
        pq.write_table(pq.read_table(path).drop_columns(["ref_key"]), path)
    for cached in (ws.root / "cache").glob("*.npy"):
        cached.unlink()
    after = read_incidents(ws, include_uncounted=True)
    assert after.equals(before) and before["ref_key"].ne(0).any()
