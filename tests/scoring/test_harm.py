"""Tests for harmmap.scoring.harm: lookups, ASB policy, modifiers, errors and invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harmmap.errors import ConfigError, SchemaError
from harmmap.schema import CRIME_TYPES
from harmmap.scoring.harm import (HarmModifiers, HarmWeights, ValueFloor, crime_type_to_offence,
                                  incidents_to_harm)
from harmmap.weights import load_harm_weights

NA = pd.NA


def frame(rows, **extra) -> pd.DataFrame:
    """rows: (crime_type, offence) pairs; extra: optional columns as lists."""
    out = pd.DataFrame(rows, columns=["crime_type", "offence"])
    for name, values in extra.items():
        dtype = "Float64" if name == "value_gbp" else "boolean"
        out[name] = pd.array(values, dtype=dtype)
    return out


def small_weights(**kwargs) -> HarmWeights:
    """A hand-checkable table: shoplifting 1, robbery 365, violence 1, assault with injury 10."""
    args = dict(name="test", version="1",
                by_offence={"theft_from_shop": 1, "assault_with_injury": 10, "robbery_business": 365,
                            "criminal_damage": 1, "burglary_business": 10},
                by_crime_type={"Shoplifting": 1, "Robbery": 365, "Violence and sexual offences": 1,
                               "Criminal damage and arson": 1, "Burglary": 19},
                modifiers=HarmModifiers(injury_floor=10, weapon_floor_default=5,
                                        weapon_floor_by_offence={"theft_from_shop": 365, "burglary_business": 730},
                                        value_floors=(ValueFloor("criminal_damage", 5000, 2),)))
    return HarmWeights(**{**args, **kwargs})


def test_cchi_hand_checked_values():
    rows = [("Shoplifting", "shoplifting"), ("Robbery", "robbery"), ("Theft from the person", "theft_from_the_person"),
            ("Shoplifting", "theft_from_shop"), ("Robbery", "robbery_business"),
            ("Violence and sexual offences", "assault_with_injury"), ("Other theft", "theft_by_employee")]
    assert incidents_to_harm(frame(rows), load_harm_weights("cchi")).tolist() == [1, 365, 2, 1, 365, 10, 19]


def test_offence_is_looked_up_before_crime_type():
    weights = small_weights()
    harm = incidents_to_harm(frame([("Violence and sexual offences", "assault_with_injury"),
                                    ("Violence and sexual offences", "some_new_code"),
                                    ("Burglary", "burglary_business"), ("Burglary", "burglary")]), weights)
    assert harm.tolist() == [10, 1, 10, 19]


def test_police_uk_offence_codes_mean_the_crime_type():
    assert crime_type_to_offence("Violence and sexual offences") == "violence_and_sexual_offences"
    assert crime_type_to_offence("Anti-social behaviour") == "anti_social_behaviour"
    weights = small_weights(by_offence={"shoplifting": 4})  # an explicit offence weight still wins
    rows = frame([("Shoplifting", "shoplifting"), ("Robbery", "robbery")])
    assert incidents_to_harm(rows, weights).tolist() == [4, 365]


def test_unknown_offence_and_crime_type_raise_naming_them():
    with pytest.raises(ConfigError, match="nonsense_code") as info:
        incidents_to_harm(frame([("Shoplifting", "shoplifting"), ("Made up", "nonsense_code")]), small_weights())
    assert "Made up" in str(info.value) and "1 incident" in str(info.value)
    with pytest.raises(ConfigError, match="Drugs"):  # a real crime type this small table does not weigh
        incidents_to_harm(frame([("Drugs", "drugs")]), small_weights())


def test_missing_columns_raise_schema_error():
    with pytest.raises(SchemaError, match="offence"):
        incidents_to_harm(pd.DataFrame({"crime_type": ["Shoplifting"]}), small_weights())


def test_missing_offence_falls_back_and_missing_both_raises():
    rows = pd.DataFrame({"crime_type": pd.array(["Robbery", None], dtype="string"),
                         "offence": pd.array([None, None], dtype="string")})
    with pytest.raises(ConfigError, match="None"):
        incidents_to_harm(rows, small_weights())
    assert incidents_to_harm(rows.iloc[:1], small_weights()).tolist() == [365]


@pytest.mark.parametrize("policy, weight, expected",
                         [("exclude", 0.0, 0.0), ("exclude", 3.0, 0.0), ("fixed", 0.5, 0.5)])
def test_asb_policy(policy, weight, expected):
    weights = small_weights(asb_policy=policy, asb_weight=weight)
    rows = frame([("Anti-social behaviour", "anti_social_behaviour"), ("Anti-social behaviour", "odd_code")],
                 injury=[True, True], weapon=[True, True])
    assert incidents_to_harm(rows, weights).tolist() == [expected, expected]  # and no modifier applies


def test_asb_in_tables_or_unknown_policy_is_rejected():
    with pytest.raises(ConfigError, match="ASB policy"):
        small_weights(by_crime_type={"Anti-social behaviour": 1})
    with pytest.raises(ConfigError, match="policy"):
        small_weights(asb_policy="sometimes")


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "3", True, None])
def test_bad_weights_are_rejected(bad):
    with pytest.raises(ConfigError):
        small_weights(by_offence={"theft_from_shop": bad})


def test_unknown_crime_type_in_table_is_rejected():
    with pytest.raises(ConfigError, match="Theft"):
        small_weights(by_crime_type={"Theft": 1})


def test_injury_floor_applies_only_when_true():
    rows = frame([("Shoplifting", "theft_from_shop")] * 3 + [("Robbery", "robbery_business")],
                 injury=[True, False, NA, True])
    assert incidents_to_harm(rows, small_weights()).tolist() == [10, 1, 1, 365]  # a floor never lowers


def test_weapon_floors_by_offence_and_default():
    rows = frame([("Shoplifting", "theft_from_shop"), ("Burglary", "burglary_business"),
                  ("Criminal damage and arson", "criminal_damage"), ("Shoplifting", "theft_from_shop")],
                 weapon=[True, True, True, NA])
    assert incidents_to_harm(rows, small_weights()).tolist() == [365, 730, 5, 1]


def test_value_band_floor():
    rows = frame([("Criminal damage and arson", "criminal_damage")] * 4 + [("Shoplifting", "theft_from_shop")],
                 value_gbp=[4999.99, 5000, NA, 1e6, 1e6])
    assert incidents_to_harm(rows, small_weights()).tolist() == [1, 2, 1, 2, 1]


def test_modifiers_never_touch_rows_with_blank_fields():
    rows = frame([(t, crime_type_to_offence(t)) for t in CRIME_TYPES],
                 injury=[NA] * 14, weapon=[NA] * 14, value_gbp=[NA] * 14)
    weights = load_harm_weights("cchi")
    assert np.array_equal(incidents_to_harm(rows, weights), incidents_to_harm(rows[["crime_type", "offence"]], weights))


def test_cchi_modifiers_as_documented():
    rows = frame([("Shoplifting", "theft_from_shop"), ("Shoplifting", "theft_from_shop"),
                  ("Burglary", "burglary_business"), ("Violence and sexual offences", "common_assault_retail_worker"),
                  ("Criminal damage and arson", "criminal_damage"), ("Criminal damage and arson", "arson")],
                 injury=[True, False, False, False, False, False], weapon=[False, True, True, True, False, True],
                 value_gbp=[NA, NA, NA, NA, 7500, NA])
    assert incidents_to_harm(rows, load_harm_weights("cchi")).tolist() == [10, 365, 730, 182.5, 2, 5]


def test_categorical_and_text_columns_give_the_same_harm():
    rows = frame([("Shoplifting", "shoplifting"), ("Robbery", "robbery"), ("Shoplifting", "theft_from_shop"),
                  ("Anti-social behaviour", "anti_social_behaviour")], weapon=[NA, NA, True, NA])
    as_categories = rows.astype({"crime_type": "category", "offence": "category"})
    weights = load_harm_weights("cchi")
    assert np.array_equal(incidents_to_harm(rows, weights), incidents_to_harm(as_categories, weights))
    assert incidents_to_harm(rows.iloc[:0], weights).shape == (0,)


PAIRS = [(t, crime_type_to_offence(t)) for t in CRIME_TYPES] + [
    ("Shoplifting", "theft_from_shop"), ("Violence and sexual offences", "assault_with_injury"),
    ("Burglary", "burglary_business"), ("Criminal damage and arson", "criminal_damage"),
    ("Robbery", "robbery_business")]
incident_rows = st.lists(st.tuples(st.sampled_from(PAIRS), st.sampled_from([True, False, None]),
                                   st.sampled_from([True, False, None]),
                                   st.one_of(st.none(), st.floats(0, 1e5, allow_nan=False))), max_size=60)


def rows_frame(data) -> pd.DataFrame:
    return frame([pair for pair, *_ in data], injury=[r[1] for r in data], weapon=[r[2] for r in data],
                 value_gbp=[r[3] for r in data])


@settings(max_examples=60, deadline=None)
@given(data=incident_rows, name=st.sampled_from(["cchi", "css", "count"]), seed=st.integers(0, 2**32 - 1))
def test_invariants_length_non_negative_and_row_order(data, name, seed):
    weights = load_harm_weights(name)
    rows = rows_frame(data)
    harm = incidents_to_harm(rows, weights)
    assert harm.dtype == np.float64 and harm.shape == (len(rows),)
    assert np.all(harm >= 0) and np.all(np.isfinite(harm))
    order = np.random.default_rng(seed).permutation(len(rows))
    permuted = incidents_to_harm(rows.iloc[order].reset_index(drop=True), weights)
    assert np.array_equal(permuted, harm[order])
