"""Web accounts, API tokens, login rate limiting and the append-only audit log.

Passwords are hashed with scrypt (``werkzeug.security``, salted, memory-hard);
nothing stores or logs a password or token in clear.  There is no default
account: ``harmmap user add`` creates users, printing a generated password once
when none is given.  ``session_version`` is part of every session cookie; bumping
it (logout, password reset, removal) invalidates the sessions issued before.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass

from werkzeug.security import check_password_hash, generate_password_hash

from harmmap.errors import ConfigError, WorkspaceError
from harmmap.store.workspace import Workspace, connect, now_utc, transaction

ROLES: tuple[str, ...] = ("admin", "planner", "retailer", "deployment")
MIN_PASSWORD_LENGTH = 12
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{1,63}")
_HASH_METHOD = "scrypt"
# A hash of a random password, checked when the user does not exist, so that a failed login
# takes the same time whether or not the name is known.
_DUMMY_HASH = generate_password_hash(secrets.token_urlsafe(16), method=_HASH_METHOD)


@dataclass(frozen=True, slots=True)
class User:
    """A web user (never carries the password hash out of this module)."""

    user_id: int
    username: str
    role: str
    org_id: str | None
    active: bool
    session_version: int


def _check_new_user(username: str, role: str, org_id: str | None) -> None:
    if not _USERNAME.fullmatch(username or ""):
        raise ConfigError("bad user name", given=repr(username),
                          fix="use 2-64 letters, digits or . _ @ -, starting with a letter or digit")
    if role not in ROLES:
        raise ConfigError("unknown role", given=repr(role), fix=f"use one of {', '.join(ROLES)}")
    if (role == "retailer") != (org_id is not None):
        raise ConfigError("a retailer user belongs to exactly one organisation, other roles to none",
                          given=f"role={role}, org={org_id!r}",
                          fix="pass --org ORG for a retailer, and no --org otherwise")


def check_password_strength(password: str) -> None:
    """Refuse short or one-character-class passwords."""
    classes = sum(bool(re.search(p, password)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]"))
    if len(password) < MIN_PASSWORD_LENGTH or classes < 2:
        raise ConfigError("password too weak", given=f"{len(password)} characters, {classes} character classes",
                          fix=f"use at least {MIN_PASSWORD_LENGTH} characters mixing letters, digits or symbols")


def generate_password() -> str:
    """A random 20-character password (about 119 bits)."""
    return secrets.token_urlsafe(15)


def _row_to_user(row: tuple) -> User:
    user_id, username, role, org_id, active, version = row
    return User(int(user_id), str(username), str(role), org_id, bool(active), int(version))


_USER_COLUMNS = "user_id, username, role, org_id, active, session_version"


def add_user(ws: Workspace, username: str, role: str, *, org_id: str | None = None,
             password: str | None = None) -> tuple[User, str]:
    """Create a user; return it and its password (generated when not given: show it once)."""
    _check_new_user(username, role, org_id)
    password = password if password is not None else generate_password()
    check_password_strength(password)
    digest = generate_password_hash(password, method=_HASH_METHOD)
    with contextlib.closing(connect(ws)) as conn, transaction(conn):
        if org_id is not None and not conn.execute("SELECT 1 FROM organisations WHERE org_id = ?", (org_id,)).fetchone():
            known = [r[0] for r in conn.execute("SELECT org_id FROM organisations ORDER BY org_id")]
            raise ConfigError("unknown organisation", given=org_id,
                              fix=f"use one of {known}" if known else "import the organisation's stores first")
        if conn.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone():
            raise ConfigError("a user with this name exists", given=username,
                              fix="choose another name, or `harmmap user reset-password`")
        conn.execute("INSERT INTO users(username, password_hash, role, org_id, created_at) VALUES (?, ?, ?, ?, ?)",
                     (username, digest, role, org_id, now_utc()))
    return get_user(ws, username), password


def get_user(ws: Workspace, username: str) -> User:
    """Return a user by name or raise WorkspaceError."""
    with contextlib.closing(connect(ws)) as conn:
        row = conn.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE username = ?", (username,)).fetchone()
    if row is None:
        raise WorkspaceError("no such user", given=username, fix="see `harmmap user list`")
    return _row_to_user(row)


def find_user_by_id(ws: Workspace, user_id: int) -> User | None:
    """Return an active user by id, or None."""
    with contextlib.closing(connect(ws)) as conn:
        row = conn.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE user_id = ? AND active = 1",
                           (user_id,)).fetchone()
    return _row_to_user(row) if row else None


def list_users(ws: Workspace) -> list[User]:
    """All users, by name."""
    with contextlib.closing(connect(ws)) as conn:
        rows = conn.execute(f"SELECT {_USER_COLUMNS} FROM users ORDER BY username").fetchall()
    return [_row_to_user(r) for r in rows]


def authenticate(ws: Workspace, username: str, password: str) -> User | None:
    """Return the active user whose password matches, else None (same work either way)."""
    with contextlib.closing(connect(ws)) as conn:
        row = conn.execute(f"SELECT {_USER_COLUMNS}, password_hash FROM users WHERE username = ?",
                           (username,)).fetchone()
    if row is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    user, digest = _row_to_user(row[:6]), row[6]
    return user if check_password_hash(digest, password) and user.active else None


def reset_password(ws: Workspace, username: str, password: str | None = None) -> str:
    """Set a new password (generated when not given) and end every session of the user."""
    password = password if password is not None else generate_password()
    check_password_strength(password)
    digest = generate_password_hash(password, method=_HASH_METHOD)
    with contextlib.closing(connect(ws)) as conn, transaction(conn):
        changed = conn.execute("UPDATE users SET password_hash = ?, session_version = session_version + 1"
                               " WHERE username = ?", (digest, username)).rowcount
    if not changed:
        raise WorkspaceError("no such user", given=username, fix="see `harmmap user list`")
    return password


def remove_user(ws: Workspace, username: str) -> None:
    """Deactivate a user (kept for the audit trail), revoke its tokens and end its sessions."""
    with contextlib.closing(connect(ws)) as conn, transaction(conn):
        changed = conn.execute("UPDATE users SET active = 0, session_version = session_version + 1"
                               " WHERE username = ? AND active = 1", (username,)).rowcount
        conn.execute("UPDATE api_tokens SET revoked = 1 WHERE user_id IN (SELECT user_id FROM users"
                     " WHERE username = ?)", (username,))
    if not changed:
        raise WorkspaceError("no such active user", given=username, fix="see `harmmap user list`")


def end_sessions(ws: Workspace, user_id: int) -> None:
    """Invalidate every session of a user (logout)."""
    with contextlib.closing(connect(ws)) as conn, transaction(conn):
        conn.execute("UPDATE users SET session_version = session_version + 1 WHERE user_id = ?", (user_id,))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(ws: Workspace, username: str, label: str) -> str:
    """Create an API token for a user; return it (only its digest is stored)."""
    user = get_user(ws, username)
    token = "hm_" + secrets.token_urlsafe(32)
    with contextlib.closing(connect(ws)) as conn, transaction(conn):
        conn.execute("INSERT INTO api_tokens(user_id, digest, label, created_at) VALUES (?, ?, ?, ?)",
                     (user.user_id, _digest(token), label, now_utc()))
    return token


def user_for_token(ws: Workspace, token: str) -> User | None:
    """The active user owning an unrevoked token, or None."""
    with contextlib.closing(connect(ws)) as conn:
        row = conn.execute(
            f"SELECT {', '.join('u.' + c.strip() for c in _USER_COLUMNS.split(','))} FROM api_tokens t"
            " JOIN users u USING (user_id) WHERE t.digest = ? AND t.revoked = 0 AND u.active = 1",
            (_digest(token),)).fetchone()
    return _row_to_user(row) if row else None


def record_login_failure(ws: Workspace, username: str, address: str) -> None:
    """Remember a failed login (for rate limiting)."""
    with contextlib.closing(connect(ws)) as conn, transaction(conn):
        conn.execute("INSERT INTO login_failures(username, address, at) VALUES (?, ?, ?)",
                     (username, address, time.time()))


def recent_login_failures(ws: Workspace, username: str, address: str, window_s: float) -> tuple[int, int]:
    """Failed logins within the last ``window_s`` seconds: (for this name, from this address)."""
    since = time.time() - window_s
    with contextlib.closing(connect(ws)) as conn:
        conn.execute("DELETE FROM login_failures WHERE at < ?", (since - 86_400,))
        by_name = conn.execute("SELECT count(*) FROM login_failures WHERE at >= ? AND username = ?",
                               (since, username)).fetchone()[0]
        by_address = conn.execute("SELECT count(*) FROM login_failures WHERE at >= ? AND address = ?",
                                  (since, address)).fetchone()[0]
    return int(by_name), int(by_address)


def append_audit(ws: Workspace, *, username: str, role: str, org_id: str | None, action: str, target: str,
                 detail: dict | None = None, address: str = "") -> None:
    """Append one entry to the audit log (who, what, when)."""
    with contextlib.closing(connect(ws)) as conn, transaction(conn):
        conn.execute("INSERT INTO audit_log(at, username, role, org_id, action, target, detail, address)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (now_utc(), username, role, org_id, action, target,
                      json.dumps(detail or {}, sort_keys=True), address))


def read_audit(ws: Workspace, limit: int = 100) -> list[dict]:
    """The newest audit entries first."""
    with contextlib.closing(connect(ws)) as conn:
        rows = conn.execute("SELECT at, username, role, org_id, action, target, detail, address FROM audit_log"
                            " ORDER BY entry_id DESC LIMIT ?", (limit,)).fetchall()
    keys = ("at", "username", "role", "org_id", "action", "target", "detail", "address")
    return [dict(zip(keys, row)) for row in rows]
