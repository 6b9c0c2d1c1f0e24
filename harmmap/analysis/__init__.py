"""Workspace-level jobs: read the store, run the pure core, persist the result.

These modules are the glue between :mod:`harmmap.store` (files, SQLite) and
:mod:`harmmap.scoring` (pure statistics); the CLI and the web app call them.
"""
