"""The ``harmmap`` command line."""

from harmmap.cli.main import main

__all__ = ["main"]
