"""Ingest into a workspace: reconciliation, idempotence, vintages, crash safety."""

from __future__ import annotations

import contextlib
import gzip
import os
import random
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from harmmap.ingest.pipeline import ingest_files
from harmmap.ingest.police_uk import POLICE_UK_PIECES, read_police_uk
from harmmap.ingest.sources import expand_paths
from harmmap.store.incidents import read_incidents
from harmmap.store.workspace import connect, init_workspace, open_workspace
from tests.ingest.test_police_uk import csv_bytes, row


def ingest(ws, *paths):
    """As ``harmmap ingest police-uk`` does it (small files validated together, big ones in pieces)."""
    return ingest_files(ws, "police_uk", expand_paths(paths), read_police_uk, pieces=POLICE_UK_PIECES).to_dict()


def db_counts(ws) -> dict:
    with contextlib.closing(connect(ws)) as conn:
        return {
            "files": conn.execute("SELECT count(*) FROM files").fetchone()[0],
            "accepted": conn.execute("SELECT coalesce(sum(accepted), 0) FROM files").fetchone()[0],
            "active_rows": conn.execute("SELECT coalesce(sum(rows), 0) FROM segments WHERE active = 1").fetchone()[0],
            "rejects": conn.execute("SELECT count(*) FROM rejects").fetchone()[0],
            "rejected": conn.execute("SELECT coalesce(sum(rejected), 0) FROM files").fetchone()[0],
        }


@pytest.fixture(scope="module")
def leicestershire_ws(shared_data, tmp_path_factory):
    ws = init_workspace(tmp_path_factory.mktemp("leics") / "ws")
    report = ingest(ws, shared_data / "police_uk" / "leicestershire")
    return ws, report


def test_leicestershire_reconciles_in_the_store(leicestershire_ws):
    ws, report = leicestershire_ws
    assert report["files_ingested"] == 35
    assert report["rows_read"] == 301_838 == report["accepted"] + report["rejected"]
    assert report["rejected_by_reason"] == {"no_location": 7_463}
    counts = db_counts(ws)
    assert counts["accepted"] == counts["active_rows"] == 294_375
    assert counts["rejects"] == counts["rejected"] == 7_463


def test_leicestershire_rows_keep_asb_and_identical_rows(leicestershire_ws, shared_data):
    ws, _ = leicestershire_ws
    stored = read_incidents(ws, include_uncounted=True)
    raw = pd.concat([pd.read_csv(p, dtype=str) for p in sorted((shared_data / "police_uk" / "leicestershire").glob("*.gz"))])
    located = raw[raw["Longitude"].notna()]
    assert len(stored) == len(located)
    asb = located["Crime type"].eq("Anti-social behaviour")
    assert stored["crime_type"].eq("Anti-social behaviour").sum() == asb.sum() == 33_364 - raw[raw["Longitude"].isna()]["Crime type"].eq("Anti-social behaviour").sum()
    assert stored.loc[stored["crime_type"].eq("Anti-social behaviour"), "source_ref"].isna().all()
    identical = located.duplicated(keep=False).sum()
    assert identical > 0  # real police.uk data has identical rows ...
    assert stored["incident_id"].is_unique  # ... and each is its own incident
    # 8 Crime IDs published in more than one month (18 rows): counted once each.
    assert stored["not_counted_reason"].value_counts().to_dict() == {"repeat_crime_id": 10}
    assert stored["cell"].gt(0).all() and stored["easting"].between(300_000, 700_000).all()


def test_loading_the_same_files_again_adds_nothing(leicestershire_ws, shared_data):
    ws, _ = leicestershire_ws
    before = db_counts(ws)
    again = ingest(ws, shared_data / "police_uk" / "leicestershire")
    assert again["duplicates_skipped"] == 35 and again["rows_read"] == 0 and again["accepted"] == 0
    assert db_counts(ws) == before


def test_city_of_london_newer_vintage_replaces_older(shared_data, tmp_path):
    ws = init_workspace(tmp_path / "ws")
    city = shared_data / "police_uk" / "city_of_london"
    first = ingest(ws, *sorted(city.glob("*.csv.gz")))
    assert first["files_ingested"] == 36 and first["replaced"] == []
    before = read_incidents(ws, include_uncounted=True)
    second = ingest(ws, city / "alt_vintage_2025")
    assert second["files_ingested"] == 12 and len(second["replaced"]) == 12
    after = read_incidents(ws, include_uncounted=True)
    assert len(after) == len(before)  # replaced, not doubled
    assert sum(r["outcome_changed"] for r in second["replaced"]) > 0
    assert all(r["rows_before"] == r["rows_after"] for r in second["replaced"])
    assert set(after["incident_id"]) == set(before["incident_id"])  # ids survive re-publication
    months_2025 = after["month"].dt.year.eq(2025)
    assert after.loc[months_2025, "file_id"].min() > first["files_ingested"]  # 2025 now from the new vintage
    again = ingest(ws, city / "alt_vintage_2025" / "2025-03-city-of-london-street.csv.gz")
    assert again["duplicates_skipped"] == 1 and again["accepted"] == 0
    old_again = ingest(ws, city / "2025-03-city-of-london-street.csv.gz")
    assert old_again["duplicates_skipped"] == 1  # an older vintage never flips back silently
    assert len(read_incidents(ws, include_uncounted=True)) == len(after)


def test_zip_bulk_layout_and_gz_give_the_same_incidents(tmp_path):
    data = csv_bytes(row(), row(crime_id="b"), row(month="2024-03", crime_id="", crime_type="Anti-social behaviour"))
    archive = tmp_path / "bulk.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("2024-03/2024-03-leicestershire-street.csv", data)
        zf.writestr("2024-03/2024-03-leicestershire-outcomes.csv", b"ignored")
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "2024-03-leicestershire-street.csv.gz").write_bytes(gzip.compress(data))
    ws_zip, ws_gz = init_workspace(tmp_path / "a"), init_workspace(tmp_path / "b")
    assert ingest(ws_zip, archive)["accepted"] == 3
    assert ingest(ws_gz, str(tmp_path / "plain" / "*.gz"))["accepted"] == 3
    a = read_incidents(ws_zip).sort_values("incident_id").reset_index(drop=True)
    b = read_incidents(ws_gz).sort_values("incident_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(a.drop(columns="file_id"), b.drop(columns="file_id"))


_CHILD = """
import sys
from harmmap.ingest.pipeline import ingest_files
from harmmap.ingest.police_uk import POLICE_UK_PIECES, read_police_uk
from harmmap.ingest.sources import expand_paths
from harmmap.store.workspace import init_workspace
ws = init_workspace(sys.argv[1])
print("ready", flush=True)
ingest_files(ws, "police_uk", expand_paths(sys.argv[3:]), read_police_uk, group_bytes=int(sys.argv[2]))
"""


def _check_consistent(ws, expected_by_file: dict[str, int]) -> None:
    with contextlib.closing(connect(ws)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        files = conn.execute("SELECT file_id, name, accepted, rejected FROM files").fetchall()
        for file_id, name, accepted, rejected in files:
            rows = conn.execute("SELECT coalesce(sum(rows),0) FROM segments WHERE file_id=?", (file_id,)).fetchone()[0]
            n_rejects = conn.execute("SELECT count(*) FROM rejects WHERE file_id=?", (file_id,)).fetchone()[0]
            assert rows == accepted == expected_by_file[Path(name).name]  # the whole file or nothing
            assert n_rejects == rejected
        for (path,) in conn.execute("SELECT path FROM segments WHERE active = 1"):
            assert (ws.root / path).exists()
    stored = read_incidents(ws, ["incident_id"], include_uncounted=True)
    assert len(stored) == sum(r[2] for r in files)


def test_kill_9_mid_ingest_leaves_a_consistent_store(shared_data, tmp_path):
    # 8 files of ~2 MB, one per group (eight commits) or in groups of ~3 MB (four commits of two files)
    paths = sorted((shared_data / "police_uk" / "leicestershire").glob("*.gz"))[:8]
    reference = init_workspace(tmp_path / "reference")
    started = time.monotonic()
    ingest_files(reference, "police_uk", expand_paths(paths), read_police_uk, group_bytes=3 << 20)
    duration = time.monotonic() - started
    expected = {}
    with contextlib.closing(connect(reference)) as conn:
        expected = {Path(n).name: a for n, a in conn.execute("SELECT name, accepted FROM files")}
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    command = [sys.executable, "-c", _CHILD]
    rng = random.Random(20241123)
    kills, states = 0, set()
    for attempt in range(12):
        ws_path = tmp_path / f"victim{attempt}"
        group_bytes = str(1 if attempt % 2 else 3 << 20)
        child = subprocess.Popen([*command, str(ws_path), group_bytes, *map(str, paths)], env=env,
                                 stdout=subprocess.PIPE)
        assert child.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.0, 0.9) * duration)  # somewhere inside the ingest
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            kills += 1
        child.wait()
        victim = open_workspace(ws_path)
        _check_consistent(victim, expected)
        states.add(db_counts(victim)["files"])
        if attempt % 4 == 3:  # a re-run after the crash completes and equals a clean run
            subprocess.run([*command, str(ws_path), group_bytes, *map(str, paths)], env=env, check=True,
                           capture_output=True)
            _check_consistent(victim, expected)
            assert db_counts(victim) == db_counts(reference)
            a = read_incidents(victim, ["incident_id"])["incident_id"].sort_values().to_numpy()
            b = read_incidents(reference, ["incident_id"])["incident_id"].sort_values().to_numpy()
            assert (a == b).all()
            leftovers = [p for p in (ws_path / "segments" / "incidents").iterdir()
                         if f"segments/incidents/{p.name}" not in _registered(victim)]
            assert leftovers == []
    assert kills >= 10
    assert len(states) >= 3  # the kills landed at different points of the ingest


def _registered(ws) -> set[str]:
    with contextlib.closing(connect(ws)) as conn:
        return {r[0] for r in conn.execute("SELECT path FROM segments")}
