"""Operation areas: named sets of places (e.g. the town centres of a summer operation).

An area is a row of ``operation_areas`` and its members are rows of
``operation_area_places`` (migration 0003).  Members are place ids without a
foreign key, so re-importing places never empties an area; new members must
exist when they are added.  Each change is one transaction.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable

from harmmap.errors import ConfigError, WorkspaceError
from harmmap.store.workspace import Workspace, connect, now_utc, transaction

MAX_NAME = 100  #: longest area name (characters)
MAX_PLACES = 5_000  #: most places in one area


class UnknownPlaceError(ConfigError):
    """An area names a place that is not in the workspace."""


class DuplicateAreaError(ConfigError):
    """Another operation area has this name."""


def _clean_name(name: str) -> str:
    text = " ".join(str(name or "").split())
    if not text or len(text) > MAX_NAME:
        raise ConfigError("an operation area needs a name of 1 to 100 characters", given=repr(name)[:120],
                          fix="e.g. 'Safer Streets summer 2024'")
    return text


def _clean_places(conn: sqlite3.Connection, place_ids: Iterable[str]) -> list[str]:
    wanted = sorted({str(p).strip() for p in place_ids if str(p).strip()})
    if not wanted or len(wanted) > MAX_PLACES:
        raise ConfigError("an operation area needs 1 to 5,000 places", given=f"{len(wanted)} places",
                          fix="choose the places that belong to the operation")
    unknown = [r[0] for r in conn.execute(
        "SELECT value FROM json_each(?) WHERE value NOT IN (SELECT place_id FROM places) LIMIT 5",
        (json.dumps(wanted),))]
    if unknown:
        raise UnknownPlaceError("unknown place", given=", ".join(unknown),
                                fix="choose places listed on the places page")
    return wanted


def _check_unique(conn: sqlite3.Connection, name: str, area_id: int | None) -> None:
    row = conn.execute("SELECT area_id FROM operation_areas WHERE name = ?", (name,)).fetchone()
    if row is not None and row[0] != area_id:
        raise DuplicateAreaError("an operation area with this name exists", given=name, fix="choose another name")


def _require(conn: sqlite3.Connection, area_id: int) -> None:
    if conn.execute("SELECT 1 FROM operation_areas WHERE area_id = ?", (area_id,)).fetchone() is None:
        raise WorkspaceError("no such operation area", given=str(area_id), fix="see the operation areas page")


def create_area(ws: Workspace, name: str, place_ids: Iterable[str], created_by: str) -> int:
    """Create an operation area and return its id.

    Parameters
    ----------
    ws : Workspace
    name : str
        Unique, 1-100 characters (runs of white space are collapsed).
    place_ids : iterable of str
        Existing place ids (duplicates ignored), 1 to :data:`MAX_PLACES`.
    created_by : str
        User name recorded with the area.

    Returns
    -------
    int
    """
    clean = _clean_name(name)
    with contextlib.closing(connect(ws)) as conn, transaction(conn):
        members = _clean_places(conn, place_ids)
        _check_unique(conn, clean, None)
        cursor = conn.execute("INSERT INTO operation_areas(name, created_by, created_at) VALUES (?, ?, ?)",
                              (clean, created_by, now_utc()))
        area_id = int(cursor.lastrowid)
        conn.executemany("INSERT INTO operation_area_places(area_id, place_id) VALUES (?, ?)",
                         [(area_id, p) for p in members])
    return area_id


def update_area(ws: Workspace, area_id: int, *, name: str | None = None,
                place_ids: Iterable[str] | None = None) -> None:
    """Rename an area and/or replace its places (arguments left None are kept)."""
    with contextlib.closing(connect(ws)) as conn, transaction(conn):
        _require(conn, area_id)
        if name is not None:
            clean = _clean_name(name)
            _check_unique(conn, clean, area_id)
            conn.execute("UPDATE operation_areas SET name = ? WHERE area_id = ?", (clean, area_id))
        if place_ids is not None:
            members = _clean_places(conn, place_ids)
            conn.execute("DELETE FROM operation_area_places WHERE area_id = ?", (area_id,))
            conn.executemany("INSERT INTO operation_area_places(area_id, place_id) VALUES (?, ?)",
                             [(area_id, p) for p in members])


def rename_area(ws: Workspace, area_id: int, name: str) -> None:
    """Rename an area (names stay unique)."""
    update_area(ws, area_id, name=name)


def delete_area(ws: Workspace, area_id: int) -> None:
    """Delete an area and its member list; raise WorkspaceError when it does not exist."""
    with contextlib.closing(connect(ws)) as conn, transaction(conn):
        _require(conn, area_id)
        conn.execute("DELETE FROM operation_area_places WHERE area_id = ?", (area_id,))
        conn.execute("DELETE FROM operation_areas WHERE area_id = ?", (area_id,))


__all__ = ["DuplicateAreaError", "MAX_NAME", "MAX_PLACES", "UnknownPlaceError", "create_area", "delete_area",
           "rename_area", "update_area"]
