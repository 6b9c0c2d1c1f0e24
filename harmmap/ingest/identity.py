"""Deterministic incident ids.

An id is a 63-bit hash of the row's identity and its ordinal among rows with
the same identity, so loading the same content again gives the same ids and
genuinely identical rows (several anti-social-behaviour reports at one map
point in one month) still get distinct ids.

Identity: police.uk rows with a Crime ID -> (source, Crime ID, month);
retailer rows -> (source, incident reference); other rows -> (source, month,
crime type, coordinates, location text, LSOA).  The outcome is not part of the
identity, so a re-published month with updated outcomes keeps its ids.

The content hash of rows without a reference is pandas'
``hash_pandas_object(frame, index=False)`` of those seven columns (SipHash of
the UTF-8 text with pandas' fixed key, bit-mixed numbers, combined like a
Python tuple).  It is computed here column by column on Arrow data: text
columns are hashed once per distinct value (police.uk text repeats heavily)
and gathered by dictionary index, which gives the same numbers ~10x faster;
``tests/ingest/test_identity.py`` checks the equality.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_KEY_COLUMNS = ("source", "month", "crime_type", "lat", "lng", "location_text", "lsoa_code")
_NULL_HASH = np.uint64(np.iinfo(np.uint64).max)  # what pandas gives a missing value
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_BUCKETED_FROM = 500_000  #: from this many rows, ordinals are counted per bucket of keys


def hash_text(values: list[str]) -> np.ndarray:
    """pandas' hash of each string (SipHash-2-4 of UTF-8 with its default key)."""
    return pd.util.hash_array(np.array(values, dtype=object), categorize=False)


def _hash_column(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Return pandas' ``hash_array`` of a column, hashing each distinct text once."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    kind = array.type
    if pa.types.is_date32(kind):
        return pd.util.hash_array(array.cast(pa.int32()).to_numpy(zero_copy_only=False))
    if pa.types.is_floating(kind) or pa.types.is_integer(kind):
        return pd.util.hash_array(array.to_numpy(zero_copy_only=False))
    if not pa.types.is_dictionary(kind):
        array = pc.dictionary_encode(array)
    elif array.dictionary.null_count:
        array = pc.dictionary_encode(array.dictionary_decode())
    table = np.append(hash_text(array.dictionary.to_pylist()), _NULL_HASH)
    codes = array.indices.fill_null(len(array.dictionary)).to_numpy(zero_copy_only=False)
    return table[codes]


def _combine(hashes: list[np.ndarray]) -> np.ndarray:
    """pandas' ``combine_hash_arrays`` (CPython's tuple hash over columns)."""
    mult = np.uint64(1000003)
    out = np.zeros_like(hashes[0]) + np.uint64(0x345678)
    for i, column in enumerate(hashes):
        inverse_i = len(hashes) - i
        out ^= column
        out *= mult
        mult += np.uint64(82520 + inverse_i + inverse_i)
    return out + np.uint64(97531)


_HEX = np.full(256, 255, dtype=np.uint8)
_HEX[np.frombuffer(b"0123456789", np.uint8)] = np.arange(10, dtype=np.uint8)
_HEX[np.frombuffer(b"abcdef", np.uint8)] = np.arange(10, 16, dtype=np.uint8)
_HEX[np.frombuffer(b"ABCDEF", np.uint8)] = np.arange(10, 16, dtype=np.uint8)


def _hex_prefix(array: pa.Array) -> np.ndarray | None:
    """uint64 of the first 16 hex digits when every non-null value is 64 hex digits, else None."""
    offsets = np.frombuffer(array.buffers()[1], dtype="int32")[array.offset: array.offset + len(array) + 1]
    lengths = np.diff(offsets)
    valid = array.is_valid().to_numpy(zero_copy_only=False)
    if not (lengths[valid] == 64).all() or (lengths[~valid] != 0).any():
        return None
    body = np.frombuffer(array.buffers()[2], dtype="uint8")[offsets[0]: offsets[-1]].reshape(-1, 64)[:, :16]
    try:
        raw = bytes.fromhex(np.ascontiguousarray(body).tobytes().decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None
    out = np.zeros(len(array), dtype="uint64")
    out[valid] = np.frombuffer(raw, dtype=">u8")
    return out


def _refs_chunk_to_keys(array: pa.Array) -> np.ndarray:
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if not pa.types.is_string(array.type):
        array = array.cast(pa.string())
    n = len(array)
    keys = np.zeros(n, dtype=np.uint64)
    if n == 0 or array.null_count == n:
        return keys
    fast = _hex_prefix(array)  # police.uk: every value a Crime ID, one bytes.fromhex for all
    if fast is not None:
        return fast
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)[array.offset: array.offset + n + 1]
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8) if array.buffers()[2] is not None else np.zeros(0, np.uint8)
    valid = array.is_valid().to_numpy(zero_copy_only=False)
    hexed = valid & (np.diff(offsets) == 64)
    if hexed.any():
        nibbles = _HEX[data[offsets[:-1][hexed][:, None] + np.arange(16)]]
        ok = (nibbles != 255).all(axis=1)
        value = np.zeros(int(hexed.sum()), dtype=np.uint64)
        for j in range(16):
            value = (value << np.uint64(4)) | nibbles[:, j].astype(np.uint64)
        rows = np.flatnonzero(hexed)
        keys[rows[ok]] = value[ok]
        hexed[rows[~ok]] = False
    rest = valid & ~hexed
    if rest.any():
        text = array.filter(pa.array(rest)).to_numpy(zero_copy_only=False).astype(object)
        keys[rest] = pd.util.hash_array(text)
    return keys


def refs_to_keys(refs: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Return a uint64 key per reference: 0 for null, else a 64-bit digest of the text.

    police.uk Crime IDs are SHA-256 hex digests, so for a value of 64 characters
    whose first 16 are hex digits the key is those 64 bits (already a uniform
    hash; reading them is ~10x faster than hashing the text).  Any other
    reference is hashed with pandas' SipHash.  Decided value by value.
    """
    chunks = refs.chunks if isinstance(refs, pa.ChunkedArray) else [refs]
    keys = [_refs_chunk_to_keys(chunk) for chunk in chunks]
    return np.concatenate(keys) if keys else np.zeros(0, dtype=np.uint64)


def _ref_hash(table: pa.Table, rows: np.ndarray, month: np.ndarray) -> np.ndarray:
    """Hash (source, reference, month) of the rows with a reference; retailer rows ignore the month."""
    source = table["source"].combine_chunks()
    if not pa.types.is_dictionary(source.type):
        source = pc.dictionary_encode(source)
    names = source.dictionary.to_pylist()
    codes = source.indices.to_numpy(zero_copy_only=False)[rows]
    source_hash = hash_text(names)[codes]
    retailer = np.array([name.startswith("retailer:") for name in names], dtype=bool)[codes]
    month_hash = pd.util.hash_array(np.where(retailer, -1, month[rows]).astype("int64"))
    stored = "ref_key" in table.column_names  # computed with the accepted rows (prepare)
    prefix = (table["ref_key"].to_numpy() if stored else refs_to_keys(table["source_ref"]))[rows]
    return pd.util.hash_array(prefix ^ source_hash ^ (month_hash * np.uint64(3)))


def _ordinals_hashed(key: np.ndarray) -> np.ndarray:
    ordinal = np.zeros(len(key), dtype="uint64")
    repeated = pd.Series(key).duplicated(keep=False).to_numpy()  # hash-based: most keys are unique
    if repeated.any():
        sub = key[repeated]
        ordinal[repeated] = pd.Series(sub).groupby(sub, sort=False).cumcount().to_numpy(dtype="uint64")
    return ordinal


def _ordinals(key: np.ndarray) -> np.ndarray:
    """Return, per row, how many earlier rows have the same key (0 for the first).

    Many keys are first split by their top 8 bits (a stable radix pass keeps
    row order within a bucket), so each hash table stays small enough for the
    CPU cache: 10M keys in ~1.2 s instead of ~3 s.
    """
    if len(key) < _BUCKETED_FROM:
        return _ordinals_hashed(key)
    bucket = (key >> np.uint64(56)).astype(np.uint8)
    order = np.argsort(bucket, kind="stable")
    ordered = key[order]
    bounds = np.searchsorted(bucket[order], np.arange(257))
    within = np.empty(len(key), dtype="uint64")
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        within[lo:hi] = _ordinals_hashed(ordered[lo:hi])
    ordinal = np.empty_like(within)
    ordinal[order] = within
    return ordinal


def incidents_to_keys(table: pa.Table) -> np.ndarray:
    """Return the uint64 identity key of each row of a canonical incident table (equal rows, equal keys)."""
    n = table.num_rows
    key = np.zeros(n, dtype="uint64")
    if n == 0:
        return key
    month = table["month"].cast(pa.int32()).to_numpy(zero_copy_only=False)
    has_ref = table["source_ref"].is_valid().to_numpy(zero_copy_only=False)
    if has_ref.any():
        key[has_ref] = _ref_hash(table, has_ref, month)
    if not has_ref.all():
        rest = table.select(list(_KEY_COLUMNS)).filter(pa.array(~has_ref))
        key[~has_ref] = _combine([_hash_column(rest[name]) for name in _KEY_COLUMNS])
    return key


def keys_to_ids(key: np.ndarray, within: np.ndarray | None = None) -> np.ndarray:
    """Return int64 ids from identity keys: each key mixed with its ordinal among equal keys.

    ``within`` (one integer per row, e.g. the file id) scopes the ordinals of
    identical rows: rows of several files read together get the ids each file
    would get on its own.
    """
    scoped = key if within is None else key ^ pd.util.hash_array(np.asarray(within, dtype="int64"))
    mixed = pd.util.hash_array(key ^ (_ordinals(scoped) * _GOLDEN))
    return (mixed >> np.uint64(1)).astype("int64")


def incidents_to_ids(table: pa.Table, within: np.ndarray | None = None) -> np.ndarray:
    """Return the int64 id of each row of a canonical incident table (before ids exist); see :func:`keys_to_ids`."""
    return keys_to_ids(incidents_to_keys(table), within)
