"""Persisted scoring runs: round trip, listing, errors, orphans, crash safety, schema upgrade."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import harmmap.store.results as results_module
from click.testing import CliRunner

from harmmap.analysis.score import score_workspace
from harmmap.cli import main
from harmmap.cli.demo import build_demo
from harmmap.errors import WorkspaceError
from harmmap.scoring.pipeline import ScoringSettings
from harmmap.store.results import RESULTS_DIR, find_run, list_runs, load_result, save_result
from harmmap.store.workspace import (
    connect, init_workspace, latest_schema_version, open_workspace, write_lock,
)

FAST = ScoringSettings(permutations=99, replicates=20)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A small demo workspace with one scoring run; returns (workspace root, ScoredRun)."""
    root = tmp_path_factory.mktemp("results") / "ws"
    build_demo(str(root), seed=1, months=6, per_month=500, echo=lambda *a: None, show=lambda *a: None)
    run = score_workspace(open_workspace(root), FAST)
    return root, run


@pytest.fixture
def result(demo):
    return demo[1].result


def _integrity(ws) -> str:
    with contextlib.closing(connect(ws)) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def _folders(ws) -> set[str]:
    base = ws.root / RESULTS_DIR
    return {f"{RESULTS_DIR}/{p.name}" for p in base.iterdir()} if base.is_dir() else set()


def _check_every_run_loads(ws) -> None:
    """Every registered run is complete: its folder, its three tables and its metadata."""
    assert _integrity(ws) == "ok"
    for run in list_runs(ws):
        row, frames = load_result(ws, run.run_id)
        assert len(frames["cells"]) == row.cells and len(frames["places"]) == row.places
        assert json.loads((ws.root / row.path / "metadata.json").read_text()) == row.metadata


# --- round trip --------------------------------------------------------------------------------------------------


def test_save_then_load_round_trips_tables_and_metadata(tmp_path, result):
    ws = init_workspace(tmp_path / "ws")
    settings = {"weights": "cchi", "k": 1, "window": None}
    run_id = save_result(ws, result, settings)
    row, frames = load_result(ws, run_id)
    assert set(frames) == {"cells", "places", "periods"}
    for name in ("cells", "places", "periods"):
        pd.testing.assert_frame_equal(frames[name], getattr(result, name).reset_index(drop=True), check_exact=True)
    assert frames["cells"]["cell"].dtype == np.uint64
    assert frames["cells"]["gi_bin"].dtype == result.cells["gi_bin"].dtype
    assert row.run_id == run_id and row.path == f"{RESULTS_DIR}/{run_id}"
    assert row.settings == settings
    assert row.metadata == json.loads(json.dumps(result.metadata))  # JSON-exact
    assert json.loads((ws.root / row.path / "metadata.json").read_text()) == row.metadata
    totals = result.metadata["totals"]
    assert (row.cells, row.places, row.incidents) == (len(result.cells), len(result.places), totals["incidents"])
    assert row.total_harm == pytest.approx(totals["harm"])
    only, tables = load_result(ws, run_id, tables=("places",))
    assert only == row and list(tables) == ["places"]
    with pytest.raises(WorkspaceError, match="unknown result table"):
        load_result(ws, run_id, tables=("nosuch",))


def test_runs_are_listed_newest_first_and_find_run_none_is_the_latest(tmp_path, result, monkeypatch):
    ws = init_workspace(tmp_path / "ws")
    clock = iter(f"2026-01-01T00:00:0{i}+00:00" for i in range(9))
    monkeypatch.setattr(results_module, "now_utc", lambda: next(clock))
    ids = [save_result(ws, result, {"n": n}) for n in range(3)]
    runs = list_runs(ws)
    assert [r.run_id for r in runs] == ids[::-1]
    assert [r.settings["n"] for r in runs] == [2, 1, 0]
    assert find_run(ws).run_id == find_run(ws, None).run_id == ids[-1]
    assert find_run(ws, ids[0]).settings == {"n": 0}
    assert load_result(ws)[0].run_id == ids[-1]


def test_runs_saved_within_one_second_are_still_listed_newest_first(tmp_path, result, monkeypatch):
    """Two runs in the same second (scripts, small data): the later one must still be 'the latest'.

    created_at has second precision and the run id ends in a random suffix, so ordering by
    (created_at, run_id) puts same-second runs in random order.  The suffixes are forced to
    decrease here to make that deterministic.
    """
    ws = init_workspace(tmp_path / "ws")
    monkeypatch.setattr(results_module, "now_utc", lambda: "2026-01-01T00:00:00+00:00")
    suffixes = iter([0xF0, 0xE0, 0xD0])
    monkeypatch.setattr(results_module.uuid, "uuid4", lambda: uuid.UUID(int=next(suffixes) << 120))
    ids = [save_result(ws, result, {"n": n}) for n in range(3)]
    assert len(set(ids)) == 3
    assert [r.settings["n"] for r in list_runs(ws)] == [2, 1, 0]
    assert find_run(ws).run_id == ids[-1]


# --- errors --------------------------------------------------------------------------------------------------------


def test_no_runs_says_to_run_score(tmp_path):
    ws = init_workspace(tmp_path / "ws")
    assert list_runs(ws) == []
    with pytest.raises(WorkspaceError, match="no scoring run") as info:
        find_run(ws)
    assert "harmmap score" in str(info.value)
    with pytest.raises(WorkspaceError, match="harmmap score"):
        load_result(ws)


def test_unknown_run_id_names_the_known_ids(tmp_path, result):
    ws = init_workspace(tmp_path / "ws")
    ids = [save_result(ws, result, {}) for _ in range(2)]
    with pytest.raises(WorkspaceError, match="no scoring run with this id") as info:
        load_result(ws, "19990101T000000Z-000000")
    message = str(info.value)
    assert "19990101T000000Z-000000" in message and all(i in message for i in ids)


def test_second_writer_is_refused_and_leaves_nothing(tmp_path, result):
    ws = init_workspace(tmp_path / "ws")
    with write_lock(ws):
        with pytest.raises(WorkspaceError, match="another harmmap process"):
            save_result(ws, result, {})
    assert list_runs(ws) == [] and _folders(ws) == set()


# --- orphans and crashes -------------------------------------------------------------------------------------------


def test_orphan_folders_are_removed_by_the_next_save(tmp_path, result):
    ws = init_workspace(tmp_path / "ws")
    kept = save_result(ws, result, {})
    temp = ws.root / RESULTS_DIR / ".tmp-x"
    stray = ws.root / RESULTS_DIR / "20200101T000000Z-abcdef"
    for folder in (temp, stray):
        folder.mkdir()
        (folder / "cells.parquet").write_bytes(b"half written")
    assert list_runs(ws)[0].run_id == kept  # orphans are never listed
    new = save_result(ws, result, {})
    assert _folders(ws) == {f"{RESULTS_DIR}/{kept}", f"{RESULTS_DIR}/{new}"}
    _check_every_run_loads(ws)


def test_crash_between_writing_the_folder_and_registering_it(tmp_path, result, monkeypatch):
    ws = init_workspace(tmp_path / "ws")
    first = save_result(ws, result, {})

    @contextlib.contextmanager
    def crash(conn):
        raise RuntimeError("simulated crash before the row commits")
        yield conn  # pragma: no cover

    with monkeypatch.context() as patch:
        patch.setattr(results_module, "transaction", crash)
        with pytest.raises(RuntimeError, match="simulated crash"):
            save_result(ws, result, {})
    orphans = _folders(ws) - {f"{RESULTS_DIR}/{first}"}
    assert len(orphans) == 1  # the complete but unregistered folder
    assert [r.run_id for r in list_runs(ws)] == [first]
    _check_every_run_loads(ws)
    again = save_result(ws, result, {})
    assert _folders(ws) == {f"{RESULTS_DIR}/{first}", f"{RESULTS_DIR}/{again}"}
    _check_every_run_loads(ws)


def test_failure_while_writing_tables_leaves_only_a_temp_folder(tmp_path, result, monkeypatch):
    ws = init_workspace(tmp_path / "ws")
    real, calls = results_module.pq.write_table, []

    def fail_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(results_module.pq, "write_table", fail_second)
        with pytest.raises(OSError, match="disk full"):
            save_result(ws, result, {})
    assert list_runs(ws) == []
    assert [p.name.startswith(".tmp-") for p in (ws.root / RESULTS_DIR).iterdir()] == [True]
    run_id = save_result(ws, result, {})
    assert _folders(ws) == {f"{RESULTS_DIR}/{run_id}"}


_SERVER = """
import os, sys, time
import harmmap.analysis.score
import harmmap.store.results as results
from harmmap.cli import main

def work(ws, stage, pipe):
    if stage == "writing":  # stop after the first table of the temp folder
        real_write = results.pq.write_table
        def write_table(*args, **kwargs):
            real_write(*args, **kwargs)
            print("stage", file=pipe, flush=True)
            time.sleep(60)
        results.pq.write_table = write_table
    elif stage == "renamed":  # stop after the rename, before the row is registered
        real_replace = os.replace
        def replace(src, dst):
            real_replace(src, dst)
            if ".tmp-" in str(src):
                print("stage", file=pipe, flush=True)
                time.sleep(60)
        os.replace = replace
    for _ in range(4):  # the test kills within about the first two
        try:
            main(["--workspace", ws, "score", "--permutations", "99", "--json"], standalone_mode=False)
        except SystemExit:
            pass

# Import once, then fork one worker per request ("<workspace> <stage>"): the test SIGKILLs the worker.
print("ready", flush=True)
for line in sys.stdin:
    ws, stage = line.split()
    pid = os.fork()
    if pid == 0:
        pipe = os.fdopen(os.dup(1), "w")
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        try:
            work(ws, stage, pipe)
        finally:
            os._exit(0)
    print(pid, flush=True)
    _, status = os.waitpid(pid, 0)
    print("done", os.waitstatus_to_exitcode(status), flush=True)
"""


def _score_cli(root: Path) -> None:
    outcome = CliRunner().invoke(main, ["--workspace", str(root), "score", "--permutations", "99", "--json"],
                                 catch_exceptions=False)
    assert outcome.exit_code == 0, outcome.output


def test_kill_9_during_score_leaves_a_consistent_workspace(demo, tmp_path):
    ws = open_workspace(shutil.copytree(demo[0], tmp_path / "ws"))
    server = subprocess.Popen([sys.executable, "-c", _SERVER], env={**os.environ, "PYTHONPATH": str(REPO)},
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert server.stdout.readline().strip() == b"ready"
        started = time.monotonic()  # how long a worker's two scores take (same code, warm, in this process)
        _score_cli(ws.root)
        _score_cli(ws.root)
        duration = time.monotonic() - started
        registered = len(list_runs(ws))
        rng = random.Random(20241123)
        kills = 0
        for stage in ("writing", "renamed", "random", "random", "random", "random"):
            server.stdin.write(f"{ws.root} {stage}\n".encode())
            server.stdin.flush()
            worker = int(server.stdout.readline())
            if stage == "random":
                time.sleep(rng.uniform(0.05, 0.8) * duration)
            else:
                assert server.stdout.readline().strip() == b"stage"
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker, signal.SIGKILL)
            done = server.stdout.readline().split()
            assert done[0] == b"done"
            kills += int(done[1]) == -signal.SIGKILL
            runs = list_runs(ws)
            assert len(runs) >= registered  # nothing registered is ever lost
            registered = len(runs)
            _check_every_run_loads(ws)
            for run in runs:
                assert (ws.root / run.path).is_dir()
            orphans = _folders(ws) - {run.path for run in runs}
            if stage == "writing":  # a half-written temp folder, never listed
                assert [o.startswith(f"{RESULTS_DIR}/.tmp-") for o in orphans] == [True]
            elif stage == "renamed":  # a complete folder without its row; the temp folder above was cleared
                assert len(orphans) == 1 and ".tmp-" not in orphans.pop()
    finally:
        server.kill()
        server.wait()
    assert kills >= 5
    _score_cli(ws.root)  # a clean re-run succeeds and clears the crash leftovers
    runs = list_runs(ws)
    assert len(runs) == registered + 1
    assert _folders(ws) == {run.path for run in runs}
    _check_every_run_loads(ws)


# --- schema upgrade ------------------------------------------------------------------------------------------------


def _initial_sql() -> str:
    folder = resources.files("harmmap.store") / "migrations"
    return next(e for e in folder.iterdir() if e.name.startswith("0001_")).read_text(encoding="utf-8")


def test_migration_upgrades_an_empty_version_1_workspace(tmp_path, result):
    root = tmp_path / "v1"
    root.mkdir()
    with contextlib.closing(sqlite3.connect(root / "harmmap.sqlite")) as conn:
        conn.executescript(f"BEGIN;\n{_initial_sql()}\nPRAGMA user_version = 1;\nCOMMIT;")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "scoring_runs" not in tables
    ws = open_workspace(root)
    with contextlib.closing(connect(ws)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == latest_schema_version() >= 2
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "scoring_runs" in tables and list_runs(ws) == []
    run_id = save_result(ws, result, {})
    assert find_run(ws).run_id == run_id


def test_migration_upgrades_a_version_1_workspace_with_data(demo, tmp_path):
    root = shutil.copytree(demo[0], tmp_path / "ws")
    shutil.rmtree(root / RESULTS_DIR)
    with contextlib.closing(sqlite3.connect(root / "harmmap.sqlite")) as conn:
        counts = conn.execute("SELECT count(*), sum(rows) FROM segments").fetchone()
        conn.executescript("DROP TABLE scoring_runs; DROP TABLE audit_log; DROP TABLE operation_area_places;"
                           " DROP TABLE operation_areas; DROP TABLE login_failures; DROP TABLE api_tokens;"
                           " DROP TABLE users; DROP INDEX segments_one_active_per_partition_piece;"
                           " CREATE UNIQUE INDEX segments_one_active_per_partition ON segments(partition_key)"
                           " WHERE active = 1; PRAGMA user_version = 1;")
    ws = open_workspace(root)
    with contextlib.closing(connect(ws)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == latest_schema_version()
        assert conn.execute("SELECT count(*), sum(rows) FROM segments").fetchone() == counts
    run = score_workspace(ws, FAST)
    assert find_run(ws).run_id == run.run_id
    _check_every_run_loads(ws)
