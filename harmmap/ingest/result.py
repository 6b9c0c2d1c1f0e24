"""The value every reader returns: accepted rows, rejected rows, and their reconciliation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import pandas as pd

from harmmap.schema import REJECT_COLUMNS


@dataclass(frozen=True)
class ReadResult:
    """What a reader made of one input file.

    Attributes
    ----------
    incidents : pandas.DataFrame or pyarrow.Table
        Accepted rows in the canonical incident columns (see
        :mod:`harmmap.schema`) except the ones the store adds (``incident_id``,
        ``file_id``, ``cell``; ``easting``/``northing`` may be NaN and are then
        derived).  ``row_number`` is the 1-based data row.  An optional
        ``partition_key`` column names the partition a later file replaces.
    rejects : pandas.DataFrame
        Columns :data:`~harmmap.schema.REJECT_COLUMNS`: the row number, reason
        code, a human-readable detail and the original row text.
    rows_read : int
        Data rows in the file; always ``len(incidents) + len(rejects)``.
    partition_keys : tuple of str
        For police.uk: ``"police_uk/<force>/<YYYY-MM>"`` of every (force,
        month) the file covers; a later file with the same key replaces it.
    notes : tuple of str
        Things the user should know that are not row errors (e.g. legacy
        categories mapped).
    """

    incidents: pd.DataFrame
    rejects: pd.DataFrame
    rows_read: int
    partition_keys: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if len(self.incidents) + len(self.rejects) != self.rows_read:
            raise AssertionError(
                f"reader lost rows: {len(self.incidents)} accepted + "
                f"{len(self.rejects)} rejected != {self.rows_read} read"
            )

    @property
    def rejected_by_reason(self) -> dict[str, int]:
        """Count of rejected rows per reason code."""
        return {str(k): int(v) for k, v in self.rejects["reason"].value_counts().sort_index().items()}


def make_rejects(row_number, reason, detail, raw) -> pd.DataFrame:
    """Build a rejects frame from equal-length sequences."""
    return pd.DataFrame(
        {
            "row_number": pd.array(row_number, dtype="int64"),
            "reason": pd.array(reason, dtype="string"),
            "detail": pd.array(detail, dtype="string"),
            "raw": pd.array(raw, dtype="string"),
        },
        columns=list(REJECT_COLUMNS),
    )


@dataclass(frozen=True)
class PieceReader:
    """How to read a big file in pieces, and small files together (police.uk CSV: :mod:`harmmap.ingest.police_uk`).

    Attributes
    ----------
    split : callable
        ``split(data, piece_bytes) -> [(start, end), ...]`` byte spans of rows.
    read : callable
        ``read(data, name, span) -> piece`` with ``piece.result`` a
        :class:`ReadResult` whose rows are numbered from 1 within the span.
    cut_cleanly : callable
        ``cut_cleanly(data, pieces) -> bool``: False when a cut fell where the
        format does not allow it (then the file is read whole instead).
    read_many : callable, optional
        ``read_many([(data, name), ...]) -> [ReadResult, ...]``: several small
        files at once, each result as the plain reader would give it.
    """

    split: Callable
    read: Callable
    cut_cleanly: Callable
    read_many: Callable | None = None
