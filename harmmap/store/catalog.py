"""SQL on the catalogue: files, segments, rejects, sources, organisations.

Every function takes an open connection; writers are called inside
:func:`harmmap.store.workspace.transaction`.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass

import pandas as pd

from harmmap.errors import ConfigError
from harmmap.schema import RETAILER_PREFIX, SOURCE_POLICE_UK
from harmmap.store.workspace import now_utc

_ORG_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class SegmentRow:
    """One registered segment."""

    segment_id: int
    file_id: int
    partition_key: str
    path: str
    rows: int
    file_partitions: int  # partitions stored in the same Parquet file (active or not)


def check_org_id(org_id: str) -> str:
    """Return ``org_id`` if it is a valid organisation slug, else raise ConfigError."""
    if not isinstance(org_id, str) or not _ORG_ID.match(org_id):
        raise ConfigError(
            "organisation id must be 1-64 lower-case letters, digits, '-' or '_'",
            given=repr(org_id),
            fix="e.g. --org acme-retail",
        )
    return org_id


def ensure_source(conn: sqlite3.Connection, source: str) -> None:
    """Register a source (and its organisation) if new."""
    if source == SOURCE_POLICE_UK:
        conn.execute(
            "INSERT OR IGNORE INTO sources(source, kind, org_id, created_at) VALUES (?, 'police_uk', NULL, ?)",
            (source, now_utc()),
        )
        return
    org_id = check_org_id(source.removeprefix(RETAILER_PREFIX))
    ensure_organisation(conn, org_id)
    conn.execute(
        "INSERT OR IGNORE INTO sources(source, kind, org_id, created_at) VALUES (?, 'retailer', ?, ?)",
        (source, org_id, now_utc()),
    )


def ensure_organisation(conn: sqlite3.Connection, org_id: str, name: str | None = None) -> None:
    """Register an organisation if new."""
    conn.execute(
        "INSERT OR IGNORE INTO organisations(org_id, name, created_at) VALUES (?, ?, ?)",
        (check_org_id(org_id), name or org_id, now_utc()),
    )


def find_file(conn: sqlite3.Connection, sha256: str) -> tuple[int, str, str] | None:
    """Return (file_id, name, ingested_at) of a file with this content hash, or None."""
    return conn.execute("SELECT file_id, name, ingested_at FROM files WHERE sha256 = ?", (sha256,)).fetchone()


def next_file_id(conn: sqlite3.Connection) -> int:
    """Return the id the next file will get (call under the write lock)."""
    return conn.execute("SELECT coalesce(max(file_id), 0) + 1 FROM files").fetchone()[0]


def insert_file(conn: sqlite3.Connection, file_id: int, *, sha256: str, source: str, name: str,
                size_bytes: int, rows_read: int, accepted: int, rejected: int, summary: dict) -> None:
    """Register an ingested file."""
    conn.execute(
        "INSERT INTO files(file_id, sha256, source, name, size_bytes, rows_read, accepted, rejected,"
        " ingested_at, summary_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (file_id, sha256, source, name, size_bytes, rows_read, accepted, rejected, now_utc(),
         json.dumps(summary, sort_keys=True)),
    )


def insert_rejects(conn: sqlite3.Connection, file_id: int, rejects: pd.DataFrame) -> None:
    """Store every rejected row with its reason and original text."""
    rows = zip(
        [file_id] * len(rejects),
        rejects["row_number"].astype("int64").tolist(),
        rejects["reason"].astype("str").tolist(),
        rejects["detail"].fillna("").astype("str").tolist(),
        rejects["raw"].fillna("").astype("str").tolist(),
    )
    conn.executemany("INSERT INTO rejects(file_id, row_number, reason, detail, raw) VALUES (?, ?, ?, ?, ?)", rows)


def active_segments(conn: sqlite3.Connection, partition_key: str | None = None,
                    source: str | None = None) -> list[SegmentRow]:
    """Return active segments, optionally of one partition or one source (``retailer:*`` = any retailer)."""
    sql = ("SELECT s.segment_id, s.file_id, s.partition_key, s.path, s.rows,"
           " (SELECT count(*) FROM segments t WHERE t.path = s.path) FROM segments s"
           " JOIN files f ON f.file_id = s.file_id WHERE s.active = 1")
    args: list = []
    if partition_key is not None:
        sql += " AND s.partition_key = ?"
        args.append(partition_key)
    if source is not None and source.endswith("*"):
        sql += " AND f.source LIKE ?"
        args.append(source[:-1] + "%")
    elif source is not None:
        sql += " AND f.source = ?"
        args.append(source)
    return [SegmentRow(*row) for row in conn.execute(sql + " ORDER BY s.segment_id", args)]


def all_segment_paths(conn: sqlite3.Connection, active_only: bool = True) -> set[str]:
    """Return the paths of registered segments."""
    sql = "SELECT path FROM segments" + (" WHERE active = 1" if active_only else "")
    return {row[0] for row in conn.execute(sql)}


def insert_segment(conn: sqlite3.Connection, *, file_id: int, partition_key: str, path: str, rows: int,
                   month_min: str | None, month_max: str | None) -> int:
    """Register a new active segment and return its id."""
    cursor = conn.execute(
        "INSERT INTO segments(file_id, partition_key, path, rows, month_min, month_max, active, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, 1, ?)",
        (file_id, partition_key, path, rows, month_min, month_max, now_utc()),
    )
    return int(cursor.lastrowid)


def deactivate_segments(conn: sqlite3.Connection, segment_ids: list[int], superseded_by: int | None) -> None:
    """Mark segments inactive (replaced by a newer vintage)."""
    conn.executemany(
        "UPDATE segments SET active = 0, superseded_by = ? WHERE segment_id = ?",
        [(superseded_by, sid) for sid in segment_ids],
    )


def file_names(conn: sqlite3.Connection, file_ids: list[int]) -> dict[int, str]:
    """Return the name of each file id."""
    marks = ",".join("?" * len(file_ids))
    return dict(conn.execute(f"SELECT file_id, name FROM files WHERE file_id IN ({marks})", file_ids))
