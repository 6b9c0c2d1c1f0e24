"""The workspace: an SQLite catalogue (system of record) plus immutable Parquet segments.

See ``docs/workspace.md`` for the layout and the schema.
"""

from harmmap.store.workspace import Workspace, connect, init_workspace, open_workspace

__all__ = ["Workspace", "connect", "init_workspace", "open_workspace"]
