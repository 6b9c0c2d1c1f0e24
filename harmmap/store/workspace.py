"""Create, open, lock and migrate a workspace directory.

A workspace is one directory::

    harmmap.sqlite          catalogue: files, segments, rejects, places, stores, ...
    segments/incidents/     immutable Parquet files of accepted incidents
    .lock                   held (flock) by the one process writing at a time

SQLite runs in WAL mode with ``synchronous=FULL``: a committed transaction
survives power loss, and readers never block the writer.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Iterator

from harmmap.errors import WorkspaceError
from harmmap.schema import DEFAULT_RESOLUTION

DB_NAME = "harmmap.sqlite"
SEGMENT_DIR = "segments/incidents"
DEFAULT_WORKSPACE = "harmmap-workspace"


@dataclass(frozen=True)
class Workspace:
    """A workspace directory; all state is on disk, so this is just its path."""

    root: Path

    @property
    def db_path(self) -> Path:
        return self.root / DB_NAME

    @property
    def segment_dir(self) -> Path:
        return self.root / SEGMENT_DIR


def now_utc() -> str:
    """Return the current UTC time as an ISO-8601 string (second precision)."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def resolve_workspace_path(path: str | os.PathLike | None) -> Path:
    """Return the workspace path: ``path``, else ``$HARMMAP_WORKSPACE``, else ``./harmmap-workspace``."""
    chosen = path or os.environ.get("HARMMAP_WORKSPACE") or DEFAULT_WORKSPACE
    return Path(chosen).expanduser().resolve()


def connect(ws: Workspace) -> sqlite3.Connection:
    """Open a connection with harmmap's pragmas (WAL, synchronous=FULL, foreign keys)."""
    conn = sqlite3.connect(ws.db_path, timeout=60, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=60000")
    return conn


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run a block in one ``BEGIN IMMEDIATE`` transaction; roll back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextlib.contextmanager
def write_lock(ws: Workspace) -> Iterator[None]:
    """Hold the workspace's writer lock (released by the OS if the process dies)."""
    with open(ws.root / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WorkspaceError(
                "another harmmap process is writing to this workspace",
                given=str(ws.root),
                fix="wait for it to finish, or use another --workspace",
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files("harmmap.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8")))
    return sorted(found)


def latest_schema_version() -> int:
    """Return the schema version this harmmap writes."""
    return _migrations()[-1][0]


def migrate(conn: sqlite3.Connection) -> list[int]:
    """Apply pending migrations, each in its own transaction; return the versions applied."""
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    latest = latest_schema_version()
    if current > latest:
        raise WorkspaceError(
            f"workspace schema version {current} is newer than this harmmap supports ({latest})",
            fix="upgrade harmmap",
        )
    applied = []
    for version, sql in _migrations():
        if version <= current:
            continue
        try:
            conn.executescript(f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        applied.append(version)
    return applied


def init_workspace(path: str | os.PathLike | None = None, *, resolution: int = DEFAULT_RESOLUTION) -> Workspace:
    """Create (or upgrade) a workspace at ``path`` and return it; idempotent."""
    ws = Workspace(resolve_workspace_path(path))
    if ws.root.exists() and not ws.root.is_dir():
        raise WorkspaceError("workspace path exists and is not a directory", given=str(ws.root))
    ws.segment_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(connect(ws)) as conn:
        migrate(conn)
        with transaction(conn):
            conn.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('resolution', ?), ('created_at', ?)",
                (str(resolution), now_utc()),
            )
    return ws


def open_workspace(path: str | os.PathLike | None = None) -> Workspace:
    """Open an existing workspace, migrating it if it is older; raise if there is none."""
    ws = Workspace(resolve_workspace_path(path))
    if not ws.db_path.exists():
        raise WorkspaceError(
            "no harmmap workspace here",
            given=str(ws.root),
            fix="run `harmmap init` (or pass --workspace / set HARMMAP_WORKSPACE)",
        )
    with contextlib.closing(connect(ws)) as conn:
        migrate(conn)
    return ws


def read_meta(ws: Workspace, key: str) -> str | None:
    """Return one value of the ``meta`` table, or None."""
    with contextlib.closing(connect(ws)) as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def workspace_resolution(ws: Workspace) -> int:
    """Return the H3 base resolution of the workspace."""
    return int(read_meta(ws, "resolution") or DEFAULT_RESOLUTION)
