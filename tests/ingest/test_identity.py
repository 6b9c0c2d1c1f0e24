"""Incident ids: equal to the documented pandas hash, stable, distinct for identical rows."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from harmmap.ingest.identity import _KEY_COLUMNS, _ordinals, incidents_to_ids

TEXT = st.sampled_from(["On or near High Street", "On or near Market Place", "", "Café", "E01000001"])


def _oracle(table: pa.Table) -> np.ndarray:
    """The definition written out with pandas (row by row where that is clearer)."""
    frame = table.to_pandas()
    frame["month"] = table["month"].cast(pa.int32()).to_numpy()
    key = np.zeros(len(frame), dtype="uint64")
    has_ref = frame["source_ref"].notna().to_numpy()
    for i in np.flatnonzero(has_ref):
        source = str(frame["source"].iloc[i])
        ref = frame["source_ref"].iloc[i]
        prefix = np.uint64(int(ref[:16], 16)) if len(ref) == 64 and ref[0] != "z" else pd.util.hash_array(np.array([ref], dtype=object))[0]
        month = -1 if source.startswith("retailer:") else int(frame["month"].iloc[i])
        source_hash = pd.util.hash_array(np.array([source], dtype=object))[0]
        month_hash = pd.util.hash_array(np.array([month], dtype="int64"))[0]
        with np.errstate(over="ignore"):
            mixed = prefix ^ source_hash ^ (month_hash * np.uint64(3))
        key[i] = pd.util.hash_array(np.array([mixed], dtype="uint64"))[0]
    rest = frame.loc[~has_ref, list(_KEY_COLUMNS)].astype({c: object for c in ("source", "crime_type", "location_text", "lsoa_code")})
    key[~has_ref] = pd.util.hash_pandas_object(rest, index=False).to_numpy()
    seen: dict[int, int] = {}
    ordinal = np.zeros(len(key), dtype="uint64")
    for i, value in enumerate(key.tolist()):
        ordinal[i] = seen.get(value, 0)
        seen[value] = ordinal[i] + 1
    mixed = pd.util.hash_array(key ^ (ordinal * np.uint64(0x9E3779B97F4A7C15)))
    return (mixed >> np.uint64(1)).astype("int64")


def _table(rows: list[dict]) -> pa.Table:
    return pa.table({
        "source": pa.array([r["source"] for r in rows], pa.string()).dictionary_encode(),
        "source_ref": pa.array([r["source_ref"] for r in rows], pa.string()),
        "month": pa.array([dt.date.fromisoformat(r["month"]) for r in rows], pa.date32()),
        "crime_type": pa.array([r["crime_type"] for r in rows], pa.string()).dictionary_encode(),
        "lat": pa.array([r["lat"] for r in rows], pa.float64()),
        "lng": pa.array([r["lng"] for r in rows], pa.float64()),
        "location_text": pa.array([r["location_text"] for r in rows], pa.string()).dictionary_encode(),
        "lsoa_code": pa.array([r["lsoa_code"] for r in rows], pa.string()),
    })


ROW = st.fixed_dictionaries({
    "source": st.sampled_from(["police_uk", "retailer:acme"]),
    "source_ref": st.one_of(st.none(), st.sampled_from(["REF-1", "a" * 64, "0123456789abcdef" * 4, "x", "z" * 64])),
    "month": st.sampled_from(["2024-01-01", "2024-02-01"]),
    "crime_type": st.sampled_from(["Shoplifting", "Anti-social behaviour"]),
    "lat": st.sampled_from([52.63, 52.64]),
    "lng": st.sampled_from([-1.13, -1.14]),
    "location_text": st.one_of(st.none(), TEXT),
    "lsoa_code": st.one_of(st.none(), TEXT),
})


@settings(max_examples=150, deadline=None)
@given(st.lists(ROW, min_size=1, max_size=40))
def test_ids_equal_the_definition(rows):
    table = _table(rows)
    assert (incidents_to_ids(table) == _oracle(table)).all()


@settings(max_examples=60, deadline=None)
@given(st.lists(ROW, min_size=1, max_size=30), st.randoms(use_true_random=False))
def test_id_set_is_independent_of_row_order_and_ids_are_unique(rows, random):
    shuffled = rows[:]
    random.shuffle(shuffled)
    ids = incidents_to_ids(_table(rows))
    assert len(set(ids.tolist())) == len(ids)  # identical rows still get distinct ids
    assert sorted(ids.tolist()) == sorted(incidents_to_ids(_table(shuffled)).tolist())
    assert (ids >= 0).all()


def test_ordinals_count_earlier_equal_keys():
    key = np.array([5, 3, 5, 5, 3, 9], dtype="uint64")
    assert _ordinals(key).tolist() == [0, 0, 1, 2, 1, 0]


def test_outcome_is_not_part_of_the_identity():
    base = dict(source="police_uk", source_ref=None, month="2024-01-01", crime_type="Anti-social behaviour",
                lat=52.63, lng=-1.13, location_text="On or near High Street", lsoa_code="E01000001")
    one = _table([base]).append_column("outcome", pa.array(["Under investigation"]))
    two = _table([base]).append_column("outcome", pa.array(["Court result unavailable"]))
    assert incidents_to_ids(one).tolist() == incidents_to_ids(two).tolist()


def test_bucketed_ordinals_equal_the_plain_count(monkeypatch):
    import harmmap.ingest.identity as identity

    rng = np.random.default_rng(5)
    key = rng.integers(0, 2**63, 20_000, dtype=np.int64).astype(np.uint64) << np.uint64(1)
    key[::3] = key[1::3][: len(key[::3])]  # many repeats, some in the same bucket far apart
    key[-50:] = key[0]
    plain = identity._ordinals_hashed(key)
    monkeypatch.setattr(identity, "_BUCKETED_FROM", 100)
    assert (identity._ordinals(key) == plain).all()
    assert plain[-1] == (key == key[0]).sum() - 1
