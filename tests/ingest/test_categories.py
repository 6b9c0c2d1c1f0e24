"""Tests for harmmap.ingest.categories and harmmap/data/retailer_categories.toml."""

from __future__ import annotations

import tomllib

import pandas as pd
import pytest

from harmmap.errors import MappingError
from harmmap.ingest.categories import (CATEGORIES_FILE, check_extra_categories, load_categories, map_categories,
                                       normalise_label, resolve_category, unknown_category_detail)
from harmmap.schema import CRIME_TYPES


def test_every_entry_is_documented_and_valid():
    table = tomllib.loads(CATEGORIES_FILE.read_text(encoding="utf-8"))
    for key, entry in table.items():
        assert entry["note"].strip(), key
        assert entry["crime_type"] in CRIME_TYPES, key
        assert set(entry) <= {"crime_type", "offence", "offence_with_injury", "aliases", "note"}, key


def test_aliases_are_unambiguous_and_every_police_type_is_reachable():
    seen = {}
    for key, category in load_categories().items():
        for label in (key, *category.aliases):
            assert seen.setdefault(normalise_label(label), key) == key, label
    for crime_type in CRIME_TYPES:
        assert load_categories()[resolve_category(crime_type)].crime_type == crime_type


@pytest.mark.parametrize("label, crime_type, offence", [
    ("Shop theft", "Shoplifting", "theft_from_shop"),
    ("  SHOPLIFTING ", "Shoplifting", "theft_from_shop"),
    ("customer-theft", "Shoplifting", "theft_from_shop"),
    ("Staff theft", "Other theft", "theft_by_employee"),
    ("Verbal abuse", "Public order", "threatening_abusive_behaviour"),
    ("Threats", "Public order", "threatening_abusive_behaviour"),
    ("Vandalism", "Criminal damage and arson", "criminal_damage"),
    ("Arson", "Criminal damage and arson", "arson"),
    ("Robbery", "Robbery", "robbery_business"),
    ("Break-in", "Burglary", "burglary_business"),
    ("Refund fraud", "Other crime", "fraud"),
    ("Counterfeit", "Other crime", "fraud"),
    ("Anti-social behaviour", "Anti-social behaviour", "anti_social_behaviour"),
    ("Weapons", "Possession of weapons", "possession_of_weapon"),
    ("Drugs", "Drugs", "drug_possession"),
    ("Vehicle crime", "Vehicle crime", "vehicle_crime"),
    ("Bicycle theft", "Bicycle theft", "bicycle_theft"),
    ("Theft from the person", "Theft from the person", "theft_from_the_person"),
])
def test_labels(label, crime_type, offence):
    got_type, got_offence, unknown = map_categories(pd.Series([label]))
    assert (got_type[0], got_offence[0], bool(unknown[0])) == (crime_type, offence, False)


def test_violence_offence_follows_the_injury_flag():
    injury = pd.Series([True, False, None, True], dtype="boolean")
    crime_type, offence, _ = map_categories(pd.Series(["Assault", "Assault", "Violence against staff", "Theft"]),
                                            None, injury)
    assert crime_type.tolist()[:3] == ["Violence and sexual offences"] * 3
    common = "common_assault_retail_worker"
    assert offence.tolist() == ["assault_with_injury", common, common, "theft_from_shop"]


def test_extra_labels_add_and_override():
    extra = {"Till dip": "robbery", "Shoplifting": "staff_theft"}
    crime_type, offence, unknown = map_categories(pd.Series(["till  DIP", "shoplifting", "Nope", None]), extra)
    assert crime_type.tolist()[:2] == ["Robbery", "Other theft"]
    assert unknown.tolist() == [False, False, True, True]


def test_unknown_detail_lists_known_and_says_how_to_add():
    detail = unknown_category_detail("Trolley rage")
    assert "Trolley rage" in detail and "violence_against_staff" in detail and "[categories]" in detail


def test_extra_pointing_at_unknown_key_is_a_mapping_error():
    with pytest.raises(MappingError, match="unknown category") as caught:
        check_extra_categories({"Till dip": "robery"})
    assert "robbery" in caught.value.fix
