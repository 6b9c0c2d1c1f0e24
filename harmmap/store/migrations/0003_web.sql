-- harmmap workspace schema, version 3: web accounts, API tokens, operation areas, audit log.
-- Passwords are stored only as salted scrypt hashes (werkzeug.security); API tokens only as
-- SHA-256 digests (the token itself is shown once).  session_version is bumped on logout,
-- password reset and removal, which invalidates every session cookie issued before.

CREATE TABLE users (
    user_id         INTEGER PRIMARY KEY,
    username        TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash   TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'planner', 'retailer', 'deployment')),
    org_id          TEXT REFERENCES organisations(org_id),
    active          INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    session_version INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    CHECK ((role = 'retailer') = (org_id IS NOT NULL))  -- a retailer belongs to exactly one organisation
);

CREATE TABLE api_tokens (
    token_id    INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
    digest      TEXT NOT NULL UNIQUE,     -- sha256 hex of the token
    label       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    revoked     INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
);

CREATE TABLE login_failures (             -- for rate limiting; pruned as it is read
    username   TEXT NOT NULL COLLATE NOCASE,
    address    TEXT NOT NULL,
    at         REAL NOT NULL              -- unix time
);
CREATE INDEX login_failures_user ON login_failures(username, at);
CREATE INDEX login_failures_address ON login_failures(address, at);

CREATE TABLE operation_areas (
    area_id    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE operation_area_places (
    area_id  INTEGER NOT NULL REFERENCES operation_areas(area_id) ON DELETE CASCADE,
    place_id TEXT NOT NULL,               -- no foreign key: re-importing places must not empty an area
    PRIMARY KEY (area_id, place_id)
);

CREATE TABLE audit_log (                  -- append-only: updates and deletes are refused
    entry_id  INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    username  TEXT NOT NULL,
    role      TEXT NOT NULL,
    org_id    TEXT,
    action    TEXT NOT NULL,              -- e.g. 'view', 'export', 'upload', 'login', 'login_failed'
    target    TEXT NOT NULL,              -- e.g. '/places/town_centre:TC001', 'export:stores.csv'
    detail    TEXT NOT NULL DEFAULT '',   -- JSON
    address   TEXT NOT NULL DEFAULT ''
);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
