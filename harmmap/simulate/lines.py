"""Build CSV text for millions of rows without a per-row Python loop.

Almost every simulated field comes from a small dictionary (map points, crime
types, outcomes, dates), so a CSV line is the concatenation of a few
dictionary look-ups (``take``) and per-row hex strings, joined by Arrow's
string kernels.  The joined lines' data buffer *is* the file content.
"""

from __future__ import annotations

from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

TEXT = pa.large_string()
_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype="uint8")


def quote_field(text: str) -> str:
    """Return ``text`` as a CSV field, quoted only when it holds a comma, quote or line break."""
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def strings_to_array(values) -> pa.Array:
    """Return a large-string Arrow array of Python strings (a small dictionary)."""
    return pa.array(list(values), type=TEXT)


def take_text(dictionary: pa.Array, codes: np.ndarray) -> pa.Array:
    """Return ``dictionary[codes]`` as a large-string array."""
    return dictionary.take(pa.array(np.asarray(codes, dtype="int64")))


def bytes_to_hex(raw: np.ndarray, keep: np.ndarray | None = None) -> pa.Array:
    """Return the lower-case hex text of each row of an (n, k) uint8 array; ``""`` where ``keep`` is False."""
    n, width = raw.shape
    keep = np.ones(n, dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
    kept = raw[keep]
    digits = np.empty((len(kept), 2 * width), dtype="uint8")
    digits[:, 0::2] = _HEX_DIGITS[kept >> 4]
    digits[:, 1::2] = _HEX_DIGITS[kept & 15]
    offsets = np.concatenate([[0], np.cumsum(np.where(keep, 2 * width, 0))]).astype("int64")
    return pa.Array.from_buffers(TEXT, n, [None, pa.py_buffer(offsets), pa.py_buffer(digits.tobytes())])


def integers_to_text(values: np.ndarray, width: int = 0) -> pa.Array:
    """Return decimal text of non-negative integers, left-padded with zeros to ``width``."""
    text = pc.cast(pa.array(np.asarray(values, dtype="int64")), TEXT)
    return pc.utf8_lpad(text, width, "0") if width else text


def join_fields(fields: list, separator: str = ",", end: str = "") -> pa.Array:
    """Join per-row text columns (arrays or plain strings) with ``separator`` and append ``end``."""
    parts = [f if isinstance(f, (pa.Array, pa.ChunkedArray)) else pa.scalar(f, TEXT) for f in fields]
    joined = pc.binary_join_element_wise(*parts, pa.scalar(separator, TEXT))
    if end:
        joined = pc.binary_join_element_wise(joined, pa.scalar(end, TEXT), pa.scalar("", TEXT))
    return joined


def write_lines(stream: BinaryIO, lines: pa.Array) -> int:
    """Write the concatenated text of ``lines`` (each already ending in its line break); return bytes written."""
    lines = lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines
    if len(lines) == 0:
        return 0
    offsets = np.frombuffer(lines.buffers()[1], dtype="int64")[lines.offset : lines.offset + len(lines) + 1]
    data = memoryview(lines.buffers()[2])[offsets[0] : offsets[-1]]
    stream.write(data)
    return len(data)
