-- harmmap workspace schema, version 1.
-- The database is the system of record: a segment file (Parquet) is part of the
-- workspace only while a committed row in `segments` says so.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE organisations (
    org_id     TEXT PRIMARY KEY,          -- slug, e.g. 'acme'
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE sources (
    source     TEXT PRIMARY KEY,          -- 'police_uk' or 'retailer:<org_id>'
    kind       TEXT NOT NULL CHECK (kind IN ('police_uk', 'retailer')),
    org_id     TEXT REFERENCES organisations(org_id),
    created_at TEXT NOT NULL
);

-- One row per ingested input file (a zip member counts as a file).
CREATE TABLE files (
    file_id      INTEGER PRIMARY KEY,
    sha256       TEXT NOT NULL UNIQUE,    -- of the decompressed content
    source       TEXT NOT NULL REFERENCES sources(source),
    name         TEXT NOT NULL,           -- path (or zip!member) as given
    size_bytes   INTEGER NOT NULL,
    rows_read    INTEGER NOT NULL,
    accepted     INTEGER NOT NULL,
    rejected     INTEGER NOT NULL,
    ingested_at  TEXT NOT NULL,
    summary_json TEXT NOT NULL,           -- reasons, replacements, links, notes
    CHECK (rows_read = accepted + rejected)
);

-- Accepted incidents live in immutable Parquet files, one per ingested file, with a
-- partition_key column.  A segment is one partition of one file: what a later vintage
-- replaces ('police_uk/<force>/<YYYY-MM>' or 'retailer:<org>/<sha16>').
CREATE TABLE segments (
    segment_id    INTEGER PRIMARY KEY,
    file_id       INTEGER NOT NULL REFERENCES files(file_id),
    partition_key TEXT NOT NULL,
    path          TEXT NOT NULL,          -- Parquet file, relative to the workspace root
    rows          INTEGER NOT NULL,
    month_min     TEXT,
    month_max     TEXT,
    active        INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    superseded_by INTEGER REFERENCES segments(segment_id),
    created_at    TEXT NOT NULL
);
CREATE UNIQUE INDEX segments_one_active_per_partition
    ON segments(partition_key) WHERE active = 1;
CREATE UNIQUE INDEX segments_by_path ON segments(path, partition_key);

CREATE TABLE rejects (
    reject_id  INTEGER PRIMARY KEY,
    file_id    INTEGER NOT NULL REFERENCES files(file_id),
    row_number INTEGER NOT NULL,          -- 1-based data row in the file
    reason     TEXT NOT NULL,
    detail     TEXT NOT NULL,
    raw        TEXT NOT NULL              -- the original row, as text
);
CREATE INDEX rejects_by_file ON rejects(file_id, reason);

CREATE TABLE places (
    place_id     TEXT PRIMARY KEY,        -- '<kind>:<code or slug>'
    kind         TEXT NOT NULL CHECK (kind IN ('town_centre', 'lsoa', 'ward', 'custom')),
    name         TEXT NOT NULL,
    code         TEXT,
    area_km2     REAL NOT NULL,
    minx REAL NOT NULL, miny REAL NOT NULL, maxx REAL NOT NULL, maxy REAL NOT NULL,
    geometry_wkb BLOB NOT NULL,           -- 2-D polygon, EPSG:27700
    source_name  TEXT NOT NULL,
    imported_at  TEXT NOT NULL
);
CREATE INDEX places_by_kind ON places(kind);

CREATE TABLE stores (
    org_id      TEXT NOT NULL REFERENCES organisations(org_id),
    store_id    TEXT NOT NULL,
    name        TEXT,
    postcode    TEXT,
    lat         REAL NOT NULL,
    lng         REAL NOT NULL,
    easting     REAL NOT NULL,
    northing    REAL NOT NULL,
    cell        TEXT NOT NULL,            -- H3 index (hex) at the base resolution
    imported_at TEXT NOT NULL,
    PRIMARY KEY (org_id, store_id)
);
