"""The persistent-crime store list: reason codes, tiers and ranks on hand-built stores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harmmap.errors import SchemaError
from harmmap.plan.stores import REASON_CODES, StoreListSettings, list_persistent_stores

MONTHS = [f"2023-{m:02d}" for m in range(1, 13)] + [f"2024-{m:02d}" for m in range(1, 13)]


def incidents(store: str, per_month: list[int], harm: float = 1.0) -> pd.DataFrame:
    months = np.repeat(MONTHS[-len(per_month):], per_month)
    return pd.DataFrame({"store_id": store, "month": months, "harm": harm})


@pytest.fixture
def case():
    stores = pd.DataFrame({"store_id": ["hot_busy", "quiet_busy", "rising", "hot_only", "calm", "elsewhere"],
                           "name": list("ABCDEF"), "cell": np.array([1, 2, 3, 4, 5, 99], dtype=np.uint64)})
    cells = pd.DataFrame({"cell": np.array([1, 2, 3, 4, 5], dtype=np.uint64),
                          "emerging_class": ["persistent_hot_spot", "no_pattern", "no_pattern",
                                             "intensifying_hot_spot", "diminishing_hot_spot"],
                          "forecast_harm": [50.0, 5.0, 3.0, 40.0, 9.0]})
    own = pd.concat([
        incidents("hot_busy", [3] * 24, harm=2.0),          # every month, high harm
        incidents("quiet_busy", [4] * 24),                  # every month, in a quiet cell
        incidents("rising", [0] * 12 + [0, 0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4]),  # climbing over the last year
        incidents("hot_only", [1, 0, 0, 0, 0, 0]),          # hot area, almost no own incidents
        incidents("calm", [0, 1] * 12),                     # fading area, a steady trickle
    ])
    return stores, cells, own


def test_codes_tiers_and_ranks(case):
    stores, cells, own = case
    result = list_persistent_stores(stores, cells, own, months=MONTHS, settings=StoreListSettings(high_share=0.2))
    table = result.stores.set_index("store_id")
    assert table.loc["hot_busy", "reasons"] == "PERSISTENT_HOT_SPOT; OWN_INCIDENTS_HIGH; OWN_INCIDENTS_PERSISTENT"
    assert table.loc["hot_busy", "tier"] == 1 and table.loc["hot_busy", "rank"] == 1
    assert "OWN_INCIDENTS_RISING" in table.loc["rising", "reasons"] and table.loc["rising", "tier"] == 2
    assert table.loc["rising", "own_trend_z"] > 2 and table.loc["rising", "own_slope"] >= 0
    assert table.loc["quiet_busy", "reasons"] == "OWN_INCIDENTS_HIGH; OWN_INCIDENTS_PERSISTENT"
    assert table.loc["hot_only", "reasons"] == "INTENSIFYING_HOT_SPOT" and table.loc["hot_only", "tier"] == 3
    assert table.loc["calm", "rank"] == 0 and table.loc["calm", "reasons"] == ""
    assert table.loc["elsewhere", "cell_class"] == "no_data" and table.loc["elsewhere", "rank"] == 0
    listed = result.listed
    assert listed["store_id"].tolist() == ["hot_busy", "quiet_busy", "rising", "hot_only"]
    assert listed["rank"].tolist() == [1, 2, 3, 4]
    assert table.loc["hot_busy", "own_incidents_recent"] == 18 and table.loc["hot_busy", "own_harm_recent"] == 36
    assert table.loc["hot_busy", "own_active_months"] == 12 and table.loc["calm", "own_active_months"] == 6
    assert table.loc["rising", "own_incidents_recent"] == 15
    assert list(result.months) == MONTHS and table.loc["hot_busy", "name"] == "A"  # other columns pass through


def test_within_a_tier_own_recent_harm_ranks_first(case):
    stores, cells, own = case
    own = pd.concat([own[own["store_id"] != "quiet_busy"], incidents("quiet_busy", [4] * 24, harm=0.5)])
    listed = list_persistent_stores(stores, cells, own, months=MONTHS).listed
    tier_two = listed[listed["tier"] == 2]
    assert tier_two["store_id"].tolist() == ["rising", "quiet_busy"]  # 15 x 1.0 beats 24 x 0.5
    assert tier_two["own_incidents_recent"].tolist() == [15, 24]


def test_min_incidents_gates_the_own_codes(case):
    stores, cells, own = case
    strict = list_persistent_stores(stores, cells, own, months=MONTHS,
                                    settings=StoreListSettings(min_incidents=100, persistent_months=12))
    reasons = strict.stores.set_index("store_id")["reasons"]
    assert "OWN_INCIDENTS_HIGH" not in reasons["hot_busy"] and "OWN_INCIDENTS_RISING" not in reasons["rising"]


def test_months_default_to_the_span_of_the_incidents(case):
    stores, cells, own = case
    result = list_persistent_stores(stores, cells, own)
    assert result.months[0] == "2023-01" and result.months[-1] == "2024-12" and len(result.months) == 24


def test_no_incidents_lists_only_hot_areas(case):
    stores, cells, _ = case
    result = list_persistent_stores(stores, cells, pd.DataFrame({"store_id": [], "month": []}))
    assert result.listed["store_id"].tolist() == ["hot_busy", "hot_only"]
    assert set(code for r in result.stores["reasons"] for code in r.split("; ") if code) <= set(REASON_CODES)


def test_missing_columns_are_explained(case):
    stores, cells, own = case
    with pytest.raises(SchemaError, match="cell"):
        list_persistent_stores(stores.drop(columns="cell"), cells, own)
