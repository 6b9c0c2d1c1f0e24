"""harmmap.web.data caches: stores are re-read only when the stores table changes; one load per key."""

from __future__ import annotations

import threading
import time

import pandas as pd

from harmmap.store.places import save_stores
from harmmap.store.workspace import init_workspace
from harmmap.web import data


def stores(ids: list[str], name: str = "Shop") -> pd.DataFrame:
    n = len(ids)
    return pd.DataFrame({"store_id": ids, "name": [f"{name} {i}" for i in ids], "postcode": [None] * n,
                         "lat": [52.63] * n, "lng": [-1.13] * n, "easting": [458900.0] * n,
                         "northing": [304400.0] * n})


def test_stores_are_cached_until_a_store_is_added_or_replaced(tmp_path, monkeypatch):
    ws = init_workspace(tmp_path / "ws")
    save_stores(ws, "acme", stores(["A1", "A2"]))
    save_stores(ws, "other", stores(["O1"]))
    reads = []
    real = data.load_stores
    monkeypatch.setattr(data, "load_stores", lambda w, org: reads.append(org) or real(w, org))

    first = data.stores_of(ws, None)
    assert len(first) == 3 and data.stores_of(ws, None) is first  # second call: no read
    acme = data.stores_of(ws, "acme")
    assert list(acme["store_id"]) == ["A1", "A2"] and data.stores_of(ws, "acme") is acme
    assert reads == [None, "acme"]

    save_stores(ws, "other", stores(["O2"]))  # a new store invalidates every organisation's entry
    assert sorted(data.stores_of(ws, None)["store_id"]) == ["A1", "A2", "O1", "O2"]
    assert list(data.stores_of(ws, "acme")["store_id"]) == ["A1", "A2"]
    assert reads == [None, "acme", None, "acme"]

    save_stores(ws, "acme", stores(["A1"], name="Renamed"))  # same id, same second: replaced row moves
    assert data.stores_of(ws, "acme").set_index("store_id").loc["A1", "name"] == "Renamed A1"
    assert reads[-1] == "acme"


def test_concurrent_loads_of_one_key_run_once():
    calls = []

    def load():
        calls.append(1)
        time.sleep(0.2)
        return object()

    key = ("test_web_data", time.monotonic())
    got = []
    threads = [threading.Thread(target=lambda: got.append(data._cached(key, load))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len({id(g) for g in got}) == 1 and len(got) == 4
