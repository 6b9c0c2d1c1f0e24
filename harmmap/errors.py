"""Errors raised by harmmap.

Every error harmmap raises on purpose is a :class:`HarmmapError`.  Each subclass
also subclasses the matching builtin (as h3-py and scikit-learn do), so callers
that catch ``ValueError`` or ``OSError`` keep working.

Messages follow one pattern: *what was wrong*, *what was given*, *how to fix
it*.  The CLI prints ``str(error)`` on one line and exits with status 2.
"""

from __future__ import annotations


class HarmmapError(Exception):
    """Base class of every error harmmap raises deliberately."""

    def __init__(self, what: str, *, given: object = None, fix: str | None = None):
        self.what = what
        self.given = given
        self.fix = fix
        parts = [what]
        if given is not None:
            parts.append(f"given: {given!s}")
        if fix:
            parts.append(f"fix: {fix}")
        super().__init__("; ".join(parts))


class SchemaError(HarmmapError, ValueError):
    """Input does not have the columns, types or layout harmmap needs."""


class InputFileError(HarmmapError, OSError):
    """A file is missing, unreadable, empty or of an unsupported type."""


class MappingError(HarmmapError, ValueError):
    """A column mapping (TOML or flags) is invalid or incomplete."""


class GeometryError(HarmmapError, ValueError):
    """A boundary layer or geometry cannot be used (empty, no CRS, ...)."""


class WorkspaceError(HarmmapError, RuntimeError):
    """The workspace is missing, locked, newer than this harmmap, or corrupt."""


class ConfigError(HarmmapError, ValueError):
    """A setting or command-line option has an invalid value."""


class ReportError(HarmmapError, RuntimeError):
    """A report cannot be rendered (no headless browser, a page that fails to load, ...)."""
