"""Record views and exports of sensitive data in the append-only audit log."""

from __future__ import annotations

from flask import current_app, g, request

from harmmap.store.accounts import append_audit


def audit(action: str, target: str | None = None, **detail) -> None:
    """Append (who, what, when) for the current user; anonymous events use the given name."""
    user = g.get("user")
    append_audit(current_app.extensions["harmmap"].ws, username=user.username if user else detail.pop("username", "-"),
                 role=user.role if user else "-", org_id=user.org_id if user else None, action=action,
                 target=target or request.full_path.rstrip("?"), detail=detail, address=request.remote_addr or "")
