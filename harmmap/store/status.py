"""What a workspace holds: sources, months, counts by crime type, rejects by reason."""

from __future__ import annotations

import contextlib

import pyarrow.compute as pc

from harmmap.store.counting import RULE_COLUMNS
from harmmap.store.incidents import count_rules, read_incident_table
from harmmap.store.workspace import Workspace, connect, workspace_resolution

_LIVE_FILES = """
    SELECT f.file_id FROM files f
    WHERE NOT EXISTS (SELECT 1 FROM segments s WHERE s.file_id = f.file_id)
       OR EXISTS (SELECT 1 FROM segments s WHERE s.file_id = f.file_id AND s.active = 1)
"""


def _catalogue_counts(conn) -> dict:
    sources = [
        {"source": src, "files": files, "rows_read": read or 0, "accepted": acc or 0, "rejected": rej or 0}
        for src, files, read, acc, rej in conn.execute(
            f"SELECT source, count(*), sum(rows_read), sum(accepted), sum(rejected) FROM files"
            f" WHERE file_id IN ({_LIVE_FILES}) GROUP BY source ORDER BY source")
    ]
    rejects = dict(conn.execute(
        f"SELECT reason, count(*) FROM rejects WHERE file_id IN ({_LIVE_FILES}) GROUP BY reason ORDER BY reason"))
    return {
        "schema_version": conn.execute("PRAGMA user_version").fetchone()[0],
        "sources": sources,
        "files_superseded": conn.execute(
            f"SELECT count(*) FROM files WHERE file_id NOT IN ({_LIVE_FILES})").fetchone()[0],
        "partitions_replaced": conn.execute("SELECT count(*) FROM segments WHERE active = 0").fetchone()[0],
        "rejected_by_reason": rejects,
        "places_by_kind": dict(conn.execute("SELECT kind, count(*) FROM places GROUP BY kind ORDER BY kind")),
        "stores_by_org": dict(conn.execute("SELECT org_id, count(*) FROM stores GROUP BY org_id ORDER BY org_id")),
        "organisations": [r[0] for r in conn.execute("SELECT org_id FROM organisations ORDER BY org_id")],
    }


def workspace_status(ws: Workspace) -> dict:
    """Return a JSON-ready summary of the workspace."""
    with contextlib.closing(connect(ws)) as conn:
        status = {"workspace": str(ws.root), "resolution": workspace_resolution(ws), **_catalogue_counts(conn)}
    table = read_incident_table(ws, [*RULE_COLUMNS, "crime_type"])
    rules = count_rules(table)
    counted = table.filter(rules["counted"].to_numpy())
    months = sorted({m.strftime("%Y-%m") for m in pc.unique(counted["month"]).to_pylist()})
    by_type = {r["values"]: r["counts"] for r in pc.value_counts(counted["crime_type"]).to_pylist()}
    status["incidents"] = {
        "stored": table.num_rows,
        "counted": counted.num_rows,
        "not_counted_by_reason": rules["not_counted_reason"].value_counts().sort_index().astype(int).to_dict(),
        "months": {"first": months[0] if months else None, "last": months[-1] if months else None,
                   "count": len(months)},
        "by_crime_type": dict(sorted(by_type.items(), key=lambda kv: -kv[1])),
        "by_source": {r["values"]: r["counts"] for r in pc.value_counts(counted["source"]).to_pylist()},
    }
    return status
