"""Workspace creation, pragmas, migrations and the writer lock."""

from __future__ import annotations

import contextlib
import sqlite3

import pytest

from harmmap.errors import WorkspaceError
from harmmap.store.workspace import (
    connect, init_workspace, latest_schema_version, open_workspace, resolve_workspace_path, workspace_resolution,
    write_lock,
)


def test_init_is_idempotent_and_sets_pragmas(tmp_path):
    ws = init_workspace(tmp_path / "ws", resolution=8)
    again = init_workspace(tmp_path / "ws", resolution=10)  # existing settings are kept
    assert again == ws and workspace_resolution(ws) == 8
    with contextlib.closing(connect(ws)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA user_version").fetchone()[0] == latest_schema_version()
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"files", "segments", "rejects", "places", "stores", "organisations", "sources"} <= tables


def test_open_missing_workspace_says_how_to_create_one(tmp_path):
    with pytest.raises(WorkspaceError, match="harmmap init"):
        open_workspace(tmp_path / "nothing")


def test_newer_workspace_is_refused(tmp_path):
    ws = init_workspace(tmp_path / "ws")
    with contextlib.closing(sqlite3.connect(ws.db_path)) as conn:
        conn.execute(f"PRAGMA user_version = {latest_schema_version() + 1}")
    with pytest.raises(WorkspaceError, match="newer"):
        open_workspace(ws.root)


def test_workspace_path_comes_from_argument_then_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("HARMMAP_WORKSPACE", str(tmp_path / "env"))
    assert resolve_workspace_path(None) == (tmp_path / "env").resolve()
    assert resolve_workspace_path(tmp_path / "arg") == (tmp_path / "arg").resolve()


def test_second_writer_is_refused(tmp_path):
    ws = init_workspace(tmp_path / "ws")
    with write_lock(ws):
        with pytest.raises(WorkspaceError, match="another harmmap process"):
            with write_lock(ws):
                pass
    with write_lock(ws):  # released after use
        pass


def test_rows_read_must_reconcile_in_the_database(tmp_path):
    ws = init_workspace(tmp_path / "ws")
    with contextlib.closing(connect(ws)) as conn:
        conn.execute("INSERT INTO sources VALUES ('police_uk', 'police_uk', NULL, 'now')")
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO files(sha256, source, name, size_bytes, rows_read, accepted, rejected,"
                         " ingested_at, summary_json) VALUES ('x', 'police_uk', 'f', 1, 10, 5, 4, 'now', '{}')")
