"""Derive harmmap's ``cchi`` harm weights from the Cambridge Crime Harm Index 2020 values sheet.

Usage::

    python scripts/derive_cchi_weights.py [--csv PATH] [--out PATH]

``--csv`` defaults to ``../shared/data/harm_weights/cchi2020_values.csv`` (the
first 20 columns of the publisher's "CCHI 2020 values sheet"); without
``--out`` the TOML is printed.  The shipped
``harmmap/data/harm_weights/cchi2020.toml`` is exactly this script's output
(``tests/test_weights.py`` re-runs it).

Method (see ``docs/harm_weights.md`` for the table and the reasons):

* every weight is the CCHI score of named rows of the values sheet, picked by
  their ATHENA URN and checked against the expected Home Office
  classification code (HO code), so a re-issued sheet that moves rows fails
  loudly instead of shifting weights;
* a police.uk category that mixes offences takes the CCHI score of its most
  common recorded offence (its *modal* offence): a typical incident, not a
  mean over the offences the law defines (the peer table that averages all
  rows of a CCHI GROUP gives shoplifting 27.9 days although the shoplifting
  row scores 1);
* "Other crime" has no dominant offence, so it takes the median score of the
  notifiable, non-attempt rows of the CCHI group "MISCELLANEOUS CRIMES AGAINST
  SOCIETY";
* anti-social behaviour is not in CCHI (not a notifiable crime): excluded by
  policy.

The sheet is read with the ``csv`` module because some cells hold newlines
and one row (HO 111/05) is shifted one column to the right after "Score from:".
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CSV = REPO.parent / "shared" / "data" / "harm_weights" / "cchi2020_values.csv"
DEFAULT_OUT = REPO / "harmmap" / "data" / "harm_weights" / "cchi2020.toml"
MISC_GROUP = "MISCELLANEOUS CRIMES AGAINST SOCIETY"

ONS_VAP_2018 = ("ONS, Crime in England and Wales: year ending March 2018, police recorded violence against the "
                "person 1,395,877 offences: violence without injury 586,098 (42%), violence with injury 512,631 "
                "(37%), stalking and harassment 295,696 (21%) (figures as quoted at http://lobbymagazine.gr/?p=4895)")


@dataclass(frozen=True)
class Rule:
    """Where one weight comes from: CCHI rows by URN (all must agree) or a group median."""

    urns: tuple[str, ...]
    ho_codes: tuple[str, ...]
    note: str
    group_median: str | None = None


MISC_MEDIAN = Rule((), (), "No single offence dominates 'Other crime' (forgery, perjury, handling stolen goods, "
                   "going equipped, other miscellaneous offences) and no offence mix is cited here, so the weight "
                   "is the median CCHI score of the notifiable, non-attempt rows of the CCHI group "
                   "MISCELLANEOUS CRIMES AGAINST SOCIETY.", group_median=MISC_GROUP)

CRIME_TYPE_RULES: dict[str, Rule] = {
    "Bicycle theft": Rule(("44.44.0.0",), ("044/00",),
                          "Single offence: theft or unauthorised taking of a pedal cycle."),
    "Burglary": Rule(("28E.28.3.1",), ("028/03",),
                     "Mixed category: modal offence = burglary, residential, dwelling (HO 028/03, 28E). Residential "
                     "burglary is the larger part of police-recorded burglary (assumed from Home Office volumes, "
                     "not cited here); business and community burglary (030/02) scores 10, aggravated burglary 730."),
    "Criminal damage and arson": Rule(
        ("58A.149.0.0", "58B.149.0.0", "58C.149.0.0", "58D.149.0.0"), ("149/00",),
        "Mixed category: modal offence = other criminal damage under GBP 5,000 (HO 149/00; 58A-58D score 1 alike). "
        "Criminal damage outnumbers arson many times over (assumed, not cited here); arson not endangering life "
        "scores 5, arson endangering life 365."),
    "Drugs": Rule(("92E.92.61.0",), ("092/61",),
                  "Mixed category: modal offence = possession of cannabis (Class B), the commonest drug offence "
                  "recorded (assumed, not cited here); supply of Class A scores 547.5."),
    "Other crime": MISC_MEDIAN,
    "Other theft": Rule(("49.49.10.0",), ("049/10",),
                        "Mixed category: modal offence = theft not classified elsewhere ('all other theft'); "
                        "theft by an employee (041/00, 19) and blackmail (035/00, 365) are rarer."),
    "Possession of weapons": Rule(("10D.8.26.0", "10C.8.11.0"), ("008/26", "008/11"),
                                  "Mixed category: modal offences = having an article with a blade or point, and "
                                  "possession of an offensive weapon, in a public place (both score 5); firearms "
                                  "offences score up to 2,920 but are rare."),
    "Public order": Rule(("9A.125.9.0",), ("125/09",),
                         "Mixed category: modal subgroup = public fear, alarm or distress (9A), whose offences score "
                         "1 (s.5), 3 (s.4A) and 5 (s.4 Public Order Act 1986); without a cited split the middle one, "
                         "s.4A intentional harassment, alarm or distress, is used."),
    "Robbery": Rule(("34A.34.1.1", "34B.34.1.2"), ("034/01",),
                    "All eight robbery rows (business and personal, attempts, assault with intent to rob) score 365."),
    "Shoplifting": Rule(("46.46.0.0",), ("046/00",), "Single offence: theft from shops and stalls."),
    "Theft from the person": Rule(("39.39.0.0",), ("039/00",), "Single offence: theft from the person of another."),
    "Vehicle crime": Rule(("45.45.10.0",), ("045/10",),
                          "Mixed category: modal offence = theft from a motor vehicle (assumed, not cited here); "
                          "theft of a motor vehicle scores 10, interfering with a vehicle 3."),
    "Violence and sexual offences": Rule(
        ("105A.105.1.0",), ("105/01",),
        "Mixed category: modal offence = common assault and battery (HO 105/01), the main offence of the largest "
        f"subgroup, violence without injury ({ONS_VAP_2018}). A typical incident, so rare high-harm offences "
        "(rape 1,825, GBH with intent 1,460) are not spread over every report; assault with injury (ABH) scores 10."),
}

OFFENCE_RULES: dict[str, Rule] = {
    "theft_from_shop": Rule(("46.46.0.0",), ("046/00",), "Theft from shops and stalls."),
    "theft_by_employee": Rule(("41.41.0.0",), ("041/00",), "Theft by an employee."),
    "common_assault_retail_worker": Rule(("105A.105.1.0",), ("105/01",), "Common assault and battery (no injury)."),
    "assault_with_injury": Rule(("8N.8.6.0",), ("008/06",),
                                "Assault occasioning actual bodily harm (s.47), victim not a police officer."),
    "threatening_abusive_behaviour": Rule(("9A.125.9.0",), ("125/09",),
                                          "Public Order Act 1986 s.4A, intentional harassment, alarm or distress "
                                          "(s.5 scores 1, s.4 scores 5)."),
    "criminal_damage": Rule(("58B.149.0.0",), ("149/00",),
                            "Criminal damage to a building other than a dwelling, under GBP 5,000."),
    "criminal_damage_5000_plus": Rule(("58B.58.0.0",), ("058/00",),
                                      "Criminal damage to a building other than a dwelling, GBP 5,000 and over "
                                      "(floor for criminal_damage with value_gbp >= 5,000)."),
    "arson": Rule(("56B.56.2.0",), ("056/02",),
                  "Arson not endangering life (a report cannot show endangerment; arson endangering life is 365)."),
    "robbery_business": Rule(("34A.34.1.1",), ("034/01",), "Robbery of business property."),
    "burglary_business": Rule(("30C.30.2.1",), ("030/02",), "Burglary, business and community."),
    "aggravated_burglary_business": Rule(("30E.31.0.1",), ("031/00",),
                                         "Aggravated burglary, business and community: burglary with a weapon "
                                         "(Theft Act 1968 s.10); floor for burglary_business with a weapon."),
    "fraud": Rule(("99.99.99.71", "53D.99.99.230"), ("099/99",), "Fraud by false representation (Band B fine)."),
    "possession_of_weapon": Rule(("10D.8.26.0", "10C.8.11.0"), ("008/26", "008/11"),
                                 "Article with a blade or point, or offensive weapon, in a public place."),
    "threaten_with_weapon": Rule(("10D.8.64.0", "10C.8.61.0"), ("008/64", "008/61"),
                                 "Threatening with a blade or offensive weapon in a public place; floor for "
                                 "assaults and threats with a weapon."),
    "drug_possession": Rule(("92E.92.61.0",), ("092/61",), "Possession of cannabis, as for police.uk 'Drugs'."),
    "vehicle_crime": Rule(("45.45.10.0",), ("045/10",), "Theft from a motor vehicle, as for police.uk."),
    "bicycle_theft": Rule(("44.44.0.0",), ("044/00",), "Theft of a pedal cycle."),
    "theft_from_the_person": Rule(("39.39.0.0",), ("039/00",), "Theft from the person of another."),
    "other_theft": Rule(("49.49.10.0",), ("049/10",), "Theft not classified elsewhere, as for police.uk."),
    "other_crime": MISC_MEDIAN,
}

HEADER = """\
# Cambridge Crime Harm Index (CCHI) 2020 weights for harmmap, in days of custody.
# GENERATED by scripts/derive_cchi_weights.py from cchi2020_values.csv: do not edit by hand.
# Derivation and reasons: docs/harm_weights.md.
"""

META = {
    "name": "cchi",
    "version": "2020",
    "title": "Cambridge Crime Harm Index 2020, mapped to police.uk categories and harmmap retailer offences",
    "unit": "days",
    "sources": [
        "Cambridge Centre for Evidence-Based Policing (2020). The Cambridge Crime Harm Index 2020 Update, "
        "'CCHI 2020 values sheet' (current with sentencing guidelines as of 6 October 2020). "
        "Copyright Cambridge Centre for Evidence-Based Policing; only the weights below are used.",
        "Sherman, L., Neyroud, P. W. and Neyroud, E. (2016). The Cambridge Crime Harm Index: measuring total harm "
        "from crime based on sentencing guidelines. Policing 10(3): 171-183. doi:10.1093/police/paw003",
        ONS_VAP_2018,
    ],
}

ASB = {
    "policy": "exclude",
    "weight": 0.0,
    "note": "Anti-social behaviour is not a notifiable crime and has no CCHI score. Excluded (weight 0) by default; "
            "to show it, use an override with policy = \"fixed\", e.g. weight = 0.1 (the lowest CCHI score, "
            "breach of the peace, NN.195.21.0).",
}

MODIFIERS = """\
[modifiers]
note = "Floors from retailer fields (blank fields change nothing). See docs/harm_weights.md."
injury = "assault_with_injury"

[modifiers.weapon]
default = "possession_of_weapon"
theft_from_shop = "robbery_business"
theft_from_the_person = "robbery_business"
other_theft = "robbery_business"
burglary_business = "aggravated_burglary_business"
common_assault_retail_worker = "threaten_with_weapon"
assault_with_injury = "threaten_with_weapon"
threatening_abusive_behaviour = "threaten_with_weapon"

[[modifiers.value]]
offence = "criminal_damage"
min_value_gbp = 5000
floor = "criminal_damage_5000_plus"
note = "HO 058/00 (GBP 5,000 and over) scores 2, HO 149/00 (under GBP 5,000) scores 1."
"""


def read_rows(csv_path: Path) -> list[dict[str, str]]:
    """Read the values sheet CSV with a real parser (cells may hold newlines)."""
    with open(csv_path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _score(text: str) -> float:
    return float(text.strip())


def apply_rule(rule: Rule, rows: list[dict[str, str]], by_urn: dict[str, dict[str, str]]) -> tuple[float, str]:
    """Return (weight, source text) for one rule, checking the rows are the expected offences."""
    if rule.group_median:
        picked = [r for r in rows if r["GROUP"] == rule.group_median and r["NOTIFIABLE"] == "Notifiable"
                  and not r["SHORT_TITLE"].lower().startswith("attempted")]
        weight = statistics.median(_score(r["CCHI Score"]) for r in picked)
        return weight, f"CCHI 2020: median of {len(picked)} notifiable non-attempt rows of GROUP {rule.group_median}"
    found = []
    for urn in rule.urns:
        row = by_urn.get(urn)
        if row is None or row["HOME_OFFICE_CLASSIFICATION"] not in rule.ho_codes:
            raise ValueError(f"CCHI row {urn} missing or not HO {rule.ho_codes}: the values sheet has changed")
        found.append(row)
    scores = {_score(r["CCHI Score"]) for r in found}
    if len(scores) != 1:
        raise ValueError(f"CCHI rows {rule.urns} disagree: {sorted(scores)}")
    parts = [f"URN {r['ATHENA URN']} HO {r['HOME_OFFICE_CLASSIFICATION']} '{r['SHORT_TITLE'].strip()}' "
             f"(starting point {r['Starting Point'].strip()})" for r in found]
    return scores.pop(), "CCHI 2020: " + "; ".join(parts)


def derive(csv_path: Path = DEFAULT_CSV) -> dict[str, dict[str, tuple[float, str, str]]]:
    """Return {"crime_types": {...}, "offences": {...}}: key -> (weight, source, note)."""
    rows = read_rows(csv_path)
    by_urn = {r["ATHENA URN"]: r for r in rows}
    out = {}
    for section, rules in (("crime_types", CRIME_TYPE_RULES), ("offences", OFFENCE_RULES)):
        out[section] = {key: (*apply_rule(rule, rows, by_urn), rule.note) for key, rule in rules.items()}
    return out


def _toml_value(value) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, list):
        return "[\n" + "".join(f"    {_toml_value(v)},\n" for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def render_toml(derived: dict[str, dict[str, tuple[float, str, str]]]) -> str:
    """Render the derived weights as the shipped TOML text."""
    lines = [HEADER, "[meta]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in META.items()]
    lines += ["", "[asb]"] + [f"{k} = {_toml_value(v)}" for k, v in ASB.items()]
    for section, entries in derived.items():
        for key, (weight, source, note) in entries.items():
            name = key if section == "offences" else json.dumps(key)
            lines += ["", f"[{section}.{name}]", f"weight = {_toml_value(float(weight))}",
                      f"source = {_toml_value(source)}", f"note = {_toml_value(note)}"]
    return "\n".join(lines) + "\n\n" + MODIFIERS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV, help="cchi2020_values.csv")
    parser.add_argument("--out", type=Path, help=f"write here (e.g. {DEFAULT_OUT.relative_to(REPO)})")
    args = parser.parse_args(argv)
    text = render_toml(derive(args.csv))
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
