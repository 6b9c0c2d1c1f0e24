"""Deterministic incident ids.

An id is a 63-bit hash of the row's identity and its ordinal among rows with
the same identity, so loading the same content again gives the same ids and
genuinely identical rows (several anti-social-behaviour reports at one map
point in one month) still get distinct ids.

Identity: police.uk rows with a Crime ID -> (source, Crime ID, month);
retailer rows -> (source, incident reference); other rows -> (source, month,
crime type, coordinates, location text, LSOA).  The outcome is not part of the
identity, so a re-published month with updated outcomes keeps its ids.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

_KEY_COLUMNS = ("source", "month", "crime_type", "lat", "lng", "location_text", "lsoa_code")


def _column(table: pa.Table, name: str) -> pd.Series:
    column = table[name]
    if pa.types.is_date32(column.type):
        column = column.cast(pa.int32())
    return column.to_pandas()


def incidents_to_ids(table: pa.Table) -> np.ndarray:
    """Return the int64 id of each row of a canonical incident table (before ids exist)."""
    n = table.num_rows
    if n == 0:
        return np.empty(0, dtype="int64")
    source = _column(table, "source")
    ref = _column(table, "source_ref")
    month = _column(table, "month")
    has_ref = ref.notna().to_numpy()
    is_retailer = source.str.startswith("retailer:").to_numpy(dtype=bool)
    by_ref = pd.DataFrame({"s": source, "r": ref.fillna(""), "m": np.where(is_retailer, -1, month)})
    ref_hash = pd.util.hash_pandas_object(by_ref, index=False).to_numpy()
    content = pd.DataFrame({c: _column(table, c) for c in _KEY_COLUMNS})
    content_hash = pd.util.hash_pandas_object(content, index=False).to_numpy()
    key = np.where(has_ref, ref_hash, content_hash)
    ordinal = pd.Series(key).groupby(key, sort=False).cumcount().to_numpy(dtype="uint64")
    mixed = pd.util.hash_array(key ^ (ordinal * np.uint64(0x9E3779B97F4A7C15)))
    return (mixed >> np.uint64(1)).astype("int64")
