-- harmmap workspace schema, version 2: persisted scoring runs.
-- A run's tables live in results/<run_id>/ (cells.parquet, places.parquet,
-- periods.parquet, metadata.json); the folder is complete and fsynced before
-- this row commits, so a run listed here is always readable.  Folders without
-- a row are orphans of an interrupted run and are removed by the next writer.

CREATE TABLE scoring_runs (
    run_id     TEXT PRIMARY KEY,          -- e.g. '20261123T153000Z-3f9a1c'
    created_at TEXT NOT NULL,             -- UTC, ISO 8601
    path       TEXT NOT NULL UNIQUE,      -- relative to the workspace root
    settings   TEXT NOT NULL,             -- JSON: the settings the run was asked for
    metadata   TEXT NOT NULL,             -- JSON: weights version, resolution, k, window, seed, vintage, ...
    cells      INTEGER NOT NULL CHECK (cells >= 0),
    places     INTEGER NOT NULL CHECK (places >= 0),
    incidents  INTEGER NOT NULL CHECK (incidents >= 0),
    total_harm REAL NOT NULL CHECK (total_harm >= 0)
);

CREATE INDEX scoring_runs_created ON scoring_runs(created_at);
