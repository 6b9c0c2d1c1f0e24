"""Tests for harmmap.weights, the shipped tables and scripts/derive_cchi_weights.py."""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harmmap.errors import ConfigError
from harmmap.ingest.categories import load_categories
from harmmap.ingest.police_uk import CURRENT_COLUMNS, read_police_uk
from harmmap.schema import CRIME_TYPES
from harmmap.scoring.harm import crime_type_to_offence, incidents_to_harm
from harmmap.weights import AUX_OFFENCES, BUILTIN_FILES, DATA_DIR, list_harm_weights, load_harm_weights

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "derive_cchi_weights.py"


def retailer_pairs() -> list[tuple[str, str]]:
    pairs = []
    for category in load_categories().values():
        pairs.append((category.crime_type, category.offence))
        if category.offence_with_injury:
            pairs.append((category.crime_type, category.offence_with_injury))
    return pairs


def frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["crime_type", "offence"])


def write(tmp_path: Path, text: str, name: str = "mine.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_builtin_names_and_default():
    assert list_harm_weights() == ["cchi", "css", "count"]
    assert load_harm_weights() == load_harm_weights("cchi")
    assert (load_harm_weights().name, load_harm_weights().version) == ("cchi", "2020")


@pytest.mark.parametrize("name", list(BUILTIN_FILES))
def test_every_crime_type_and_retailer_offence_has_a_weight(name):
    weights = load_harm_weights(name)
    rows = frame([(t, crime_type_to_offence(t)) for t in CRIME_TYPES] + retailer_pairs())
    harm = incidents_to_harm(rows, weights)
    assert np.all(np.isfinite(harm)) and np.all(harm >= 0)
    assert set(weights.by_crime_type) == set(CRIME_TYPES) - {"Anti-social behaviour"}
    assert weights.sources


def test_cchi_names_every_retailer_offence_and_aux_code_explicitly():
    weights = load_harm_weights("cchi")
    offences = {offence for _, offence in retailer_pairs()} - {"anti_social_behaviour"}
    assert offences | set(AUX_OFFENCES) == set(weights.by_offence)
    assert weights.unverified == () and weights.asb_policy == "exclude"


def test_count_counts_every_incident_once_including_asb():
    rows = frame([(t, crime_type_to_offence(t)) for t in CRIME_TYPES] + retailer_pairs())
    rows["weapon"] = pd.array([True] * len(rows), dtype="boolean")
    assert incidents_to_harm(rows, load_harm_weights("count")).tolist() == [1.0] * len(rows)


def test_css_flags_everything_it_could_not_verify():
    weights = load_harm_weights("css")
    raw = tomllib.loads((DATA_DIR / "css.toml").read_text(encoding="utf-8"))
    verified = {key for section in ("crime_types", "offences")
                for key, entry in raw[section].items() if not entry.get("unverified")}
    assert verified == {"Drugs", "drug_possession"}
    assert len(weights.unverified) == len(raw["crime_types"]) + len(raw["offences"]) - 2
    for section in ("crime_types", "offences"):
        for key, entry in raw[section].items():
            assert entry["source"] and entry["note"], key
            assert not entry.get("unverified") or entry["reason"], key
    assert incidents_to_harm(frame([("Drugs", "drugs")]), weights).tolist() == [3.0]


def load_script():
    spec = importlib.util.spec_from_file_location("derive_cchi_weights", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the script loads
    spec.loader.exec_module(module)
    return module


def test_derivation_reproduces_the_shipped_cchi_table(shared_data):
    script = load_script()
    derived = script.derive(shared_data / "harm_weights" / "cchi2020_values.csv")
    shipped_text = (DATA_DIR / BUILTIN_FILES["cchi"]).read_text(encoding="utf-8")
    assert script.render_toml(derived) == shipped_text
    weights = load_harm_weights("cchi")
    assert {k: v[0] for k, v in derived["crime_types"].items()} == dict(weights.by_crime_type)
    assert {k: v[0] for k, v in derived["offences"].items()} == dict(weights.by_offence)
    assert (weights.by_crime_type["Shoplifting"], weights.by_crime_type["Robbery"],
            weights.by_crime_type["Theft from the person"]) == (1, 365, 2)


def test_derivation_refuses_a_changed_sheet(tmp_path, shared_data):
    script = load_script()
    text = (shared_data / "harm_weights" / "cchi2020_values.csv").read_text(encoding="utf-8")
    moved = write(tmp_path, text.replace("46.46.0.0,", "46.46.0.9,", 1), "moved.csv")
    with pytest.raises(ValueError, match="46.46.0.0"):
        script.derive(moved)


def test_police_uk_reader_offence_codes_match_the_weights():
    header = ",".join(CURRENT_COLUMNS)
    lines = [f"id{i},2024-03,Leicestershire Police,Leicestershire Police,-1.1316,52.6345,On or near X,E01025631,"
             f"Blaby 002A,{t},," for i, t in enumerate(CRIME_TYPES)]
    table = read_police_uk(("\r\n".join([header, *lines]) + "\r\n").encode()).incidents
    incidents = table.select(["crime_type", "offence"]).to_pandas()
    assert [crime_type_to_offence(t) for t in incidents["crime_type"]] == list(incidents["offence"])
    harm = incidents_to_harm(incidents, load_harm_weights("cchi"))
    expected = {"Shoplifting": 1, "Robbery": 365, "Anti-social behaviour": 0, "Theft from the person": 2}
    assert {t: harm[i] for i, t in enumerate(incidents["crime_type"]) if t in expected} == expected


def test_override_on_a_base_changes_only_what_it_names(tmp_path):
    path = write(tmp_path, """
base = "cchi"
[crime_types."Shoplifting"]
weight = 2.5
[offences.theft_from_shop]
weight = 3
[asb]
policy = "fixed"
weight = 0.1
[modifiers]
weapon = { theft_from_shop = 20 }
""")
    weights = load_harm_weights(path)
    assert (weights.name, weights.version) == ("cchi+mine", "2020+mine")
    assert weights.by_crime_type["Shoplifting"] == 2.5 and weights.by_offence["theft_from_shop"] == 3
    assert weights.by_crime_type["Robbery"] == 365 and weights.asb_effective_weight == 0.1
    assert weights.modifiers.weapon_floor_by_offence["theft_from_shop"] == 20
    assert weights.modifiers.weapon_floor_by_offence["burglary_business"] == 730  # merged, not replaced
    assert any("mine.toml" in s for s in weights.sources)
    assert load_harm_weights(str(path)) == weights


def test_override_of_an_unverified_entry_clears_the_flag(tmp_path):
    path = write(tmp_path, 'base = "css"\n[crime_types."Shoplifting"]\nweight = 14\nsource = "ONS workbook"\n')
    weights = load_harm_weights(path)
    assert "Shoplifting" not in weights.unverified and "Robbery" in weights.unverified


def test_full_user_table(tmp_path):
    body = "\n".join(f'[crime_types."{t}"]\nweight = 2' for t in CRIME_TYPES if t != "Anti-social behaviour")
    weights = load_harm_weights(write(tmp_path, '[meta]\nname = "flat"\nversion = "7"\n' + body))
    assert (weights.name, weights.version, weights.asb_policy) == ("flat", "7", "exclude")
    assert incidents_to_harm(frame([("Robbery", "robbery_business")]), weights).tolist() == [2.0]


@pytest.mark.parametrize("text, message", [
    ('base = "cchi"\ncolour = "red"\n', "unknown key"),
    ('base = "cchi"\n[offences.theft_from_shop]\nweight = 1\ncolour = 2\n', "unknown key"),
    ('base = "cchi"\n[offences.shoplifting_deluxe]\nweight = 1\n', "unknown offence code"),
    ('base = "cchi"\n[crime_types."Theft"]\nweight = 1\n', "unknown crime type"),
    ('base = "cchi"\n[crime_types."Anti-social behaviour"]\nweight = 1\n', "unknown crime type"),
    ('base = "cchi"\n[offences.theft_from_shop]\nweight = -1\n', "number >= 0"),
    ('base = "cchi"\n[offences.theft_from_shop]\nweight = "one"\n', "number >= 0"),
    ('base = "cchi"\n[offences.theft_from_shop]\nweight = true\n', "number >= 0"),
    ('base = "cchi"\n[offences.theft_from_shop]\nweight = nan\n', "number >= 0"),
    ('base = "cchi"\n[offences.theft_from_shop]\nweight = 1\nunverified = true\n', "reason"),
    ('base = "cchi"\n[offences.arson]\nnote = "no weight"\n[crime_types."Drugs"]\nsource = "x"\n', None),
    ('base = "nope"\n', "base"),
    ('base = "cchi"\n[asb]\npolicy = "sometimes"\n', "policy"),
    ('base = "cchi"\n[asb]\npolicy = "fixed"\n', "needs a weight"),
    ('base = "cchi"\n[modifiers]\ninjury = "no_such_offence"\n', "does not weigh"),
    ('base = "cchi"\n[modifiers]\nweapon = { made_up = 3 }\n', "unknown key"),
    ('base = "cchi"\n[modifiers]\nvalue = [{ offence = "made_up", min_value_gbp = 1, floor = 2 }]\n', "known offence"),
    ('base = "cchi"\n[offences.theft_from_shop\nweight = 1\n', "not valid TOML"),
    ('[crime_types."Shoplifting"]\nweight = 1\n', "without a weight"),
])
def test_invalid_files_raise_config_error_with_what_given_fix(tmp_path, text, message):
    path = write(tmp_path, text)
    if message is None:  # entries without a weight may amend a base entry's notes
        assert load_harm_weights(path).by_offence["arson"] == 5
        return
    with pytest.raises(ConfigError, match=message) as info:
        load_harm_weights(path)
    assert info.value.given is not None and info.value.fix


def test_unknown_name_or_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no built-in") as info:
        load_harm_weights("cchi2030")
    assert "cchi, css, count" in info.value.fix
    with pytest.raises(ConfigError, match="no built-in"):
        load_harm_weights(tmp_path / "absent.toml")
