"""Load harm-weight tables: the built-in ``cchi``, ``css`` and ``count``, or a user TOML file.

The tables live in ``harmmap/data/harm_weights/`` and are described, with the
derivation of every weight, in ``docs/harm_weights.md``.  A user file either
defines a full table or starts from a built-in one::

    base = "cchi"                      # optional: start from a built-in table

    [meta]
    name = "cchi-local"                # optional
    version = "2024-06"                # optional
    sources = ["Force analyst review, June 2024"]

    [asb]
    policy = "fixed"                   # "exclude" (weight 0) or "fixed"
    weight = 0.5

    [crime_types."Public order"]
    weight = 5

    [offences.theft_from_shop]
    weight = 2
    note = "why"

    [modifiers]
    injury = "assault_with_injury"     # an offence code or crime type of this table, or a number
    weapon = { default = 5, theft_from_shop = "robbery_business" }
    value = [{ offence = "theft_from_shop", min_value_gbp = 200, floor = 3 }]

Everything is checked strictly: unknown keys, offence codes or crime types,
and negative or non-numeric weights raise :class:`~harmmap.errors.ConfigError`.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

from harmmap.errors import ConfigError
from harmmap.ingest.categories import load_categories
from harmmap.schema import CRIME_TYPES
from harmmap.scoring.harm import (ASB, ASB_OFFENCE, ASB_POLICIES, HarmModifiers, HarmWeights, ValueFloor,
                                  crime_type_to_offence)

DATA_DIR = Path(__file__).resolve().parent / "data" / "harm_weights"
BUILTIN_FILES = {"cchi": "cchi2020.toml", "css": "css.toml", "count": "count.toml"}
DEFAULT_WEIGHTS = "cchi"

#: Offence codes no incident carries but modifiers point at (see docs/harm_weights.md).
AUX_OFFENCES: dict[str, str] = {
    "criminal_damage_5000_plus": "criminal damage of GBP 5,000 or more (HO 058/00)",
    "aggravated_burglary_business": "aggravated burglary, business and community (HO 031/00)",
    "threaten_with_weapon": "threatening with a blade or offensive weapon in a public place (HO 008/61, 008/64)",
}

_TOP_KEYS = {"base", "meta", "asb", "crime_types", "offences", "modifiers"}
_META_KEYS = {"name", "version", "title", "unit", "sources", "note"}
_ENTRY_KEYS = {"weight", "source", "note", "unverified", "reason"}
_ASB_KEYS = {"policy", "weight", "note"}
_MODIFIER_KEYS = {"injury", "weapon", "value", "note"}
_VALUE_KEYS = {"offence", "min_value_gbp", "floor", "note"}
_FIX = "see docs/harm_weights.md for the file format"


def list_harm_weights() -> list[str]:
    """Return the names of the built-in harm-weight tables (the first is the default)."""
    return list(BUILTIN_FILES)


def known_offences() -> set[str]:
    """Return every offence code a weights table may name."""
    codes = {crime_type_to_offence(t) for t in CRIME_TYPES} | set(AUX_OFFENCES)
    for category in load_categories().values():
        codes.add(category.offence)
        if category.offence_with_injury:
            codes.add(category.offence_with_injury)
    return codes - {ASB_OFFENCE}


def load_harm_weights(spec: str | Path = DEFAULT_WEIGHTS) -> HarmWeights:
    """Return a harm-weight table by built-in name or from a TOML file.

    Parameters
    ----------
    spec : str or pathlib.Path
        ``"cchi"`` (default), ``"css"``, ``"count"``, or the path of a TOML
        file that defines a full table or ``base = "<built-in>"`` plus
        overrides.

    Returns
    -------
    HarmWeights

    Raises
    ------
    ConfigError
        Unknown name, unreadable or invalid file, unknown keys, offence codes
        or crime types, weights that are not numbers >= 0, or a full table
        that leaves a crime type without a weight.
    """
    if isinstance(spec, str) and spec in BUILTIN_FILES:
        return _build(_read_toml(DATA_DIR / BUILTIN_FILES[spec]), origin=spec, builtin=True)
    path = Path(spec)
    if not path.is_file():
        raise ConfigError("no built-in harm weights or file by that name", given=str(spec),
                          fix=f"use one of {', '.join(BUILTIN_FILES)} or the path of a .toml file")
    raw = _read_toml(path)
    _check_keys(raw, _TOP_KEYS, f"top level of {path.name}")
    if "base" in raw:
        base = raw["base"]
        if base not in BUILTIN_FILES:
            raise ConfigError("'base' must name a built-in harm weights table", given=f"{path.name}: {base!r}",
                              fix=f"use one of {', '.join(BUILTIN_FILES)}")
        raw = _merge(_read_toml(DATA_DIR / BUILTIN_FILES[base]), raw, path)
    return _build(raw, origin=str(path), builtin=False)


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError("harm weights file is not valid TOML", given=f"{path}: {error}", fix=_FIX) from None
    except OSError as error:
        raise ConfigError("cannot read the harm weights file", given=f"{path}: {error}", fix=_FIX) from None


def _check_keys(table: object, allowed: set[str], where: str) -> None:
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table", given=repr(table), fix=_FIX)
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"unknown key(s) in {where}", given=", ".join(unknown),
                          fix=f"allowed keys: {', '.join(sorted(allowed))}")


def _merge(base: dict, override: dict, path: Path) -> dict:
    """Overlay a user file on a built-in table, entry by entry."""
    merged = {key: dict(value) if isinstance(value, dict) else value for key, value in base.items()}
    meta = dict(base.get("meta", {}))
    user_meta = override.get("meta", {})
    _check_keys(user_meta, _META_KEYS, f"[meta] of {path.name}")
    meta["name"] = user_meta.get("name", f"{override['base']}+{path.stem}")
    meta["version"] = user_meta.get("version", f"{base['meta']['version']}+{path.stem}")
    meta["sources"] = [*base["meta"].get("sources", []), *user_meta.get("sources", []), f"override file {path}"]
    merged["meta"] = meta
    merged["asb"] = override.get("asb", base.get("asb", {}))  # a policy is replaced whole, never half-inherited
    for section in ("crime_types", "offences"):
        entries = {k: dict(v) for k, v in base.get(section, {}).items()}
        _check_keys(override.get(section, {}), set(override.get(section, {})), f"[{section}] of {path.name}")
        for key, entry in override.get(section, {}).items():
            _check_keys(entry, _ENTRY_KEYS, f"[{section}.{key!r}] of {path.name}")
            if "weight" in entry:  # a new weight replaces the built-in entry with its source and flags
                entries[key] = {"source": f"override file {path.name}", **entry}
            else:
                entries[key] = {**entries.get(key, {}), **entry}
        merged[section] = entries
    modifiers = dict(base.get("modifiers", {}))
    user_modifiers = override.get("modifiers", {})
    _check_keys(user_modifiers, _MODIFIER_KEYS, f"[modifiers] of {path.name}")
    for key, value in user_modifiers.items():
        modifiers[key] = {**modifiers.get(key, {}), **value} if key == "weapon" and isinstance(value, dict) else value
    merged["modifiers"] = modifiers
    return merged


def _weight(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"{where}: weight must be a number >= 0", given=repr(value),
                          fix="use a number of days such as 1 or 182.5")
    return float(value)


def _entries(raw: dict, section: str, known: set[str], origin: str) -> tuple[dict[str, float], list[str]]:
    entries = raw.get(section, {})
    _check_keys(entries, set(entries), f"[{section}] of {origin}")
    weights, unverified = {}, []
    for key, entry in entries.items():
        where = f"[{section}.{key!r}] of {origin}"
        if key not in known:
            what = "crime type" if section == "crime_types" else "offence code"
            hint = "set anti-social behaviour in [asb]" if key in (ASB, ASB_OFFENCE) else \
                f"use one of: {', '.join(sorted(known))}"
            raise ConfigError(f"unknown {what} in {where}", given=repr(key), fix=hint)
        _check_keys(entry, _ENTRY_KEYS, where)
        if "weight" not in entry:
            raise ConfigError(f"{where} has no weight", given=repr(entry), fix="add weight = <days>")
        weights[key] = _weight(entry["weight"], where)
        flag = entry.get("unverified", False)
        if not isinstance(flag, bool) or (flag and not isinstance(entry.get("reason"), str)):
            raise ConfigError(f"{where}: 'unverified' must be true or false, and true needs a 'reason'",
                              given=repr({k: entry.get(k) for k in ("unverified", "reason")}),
                              fix='e.g. unverified = true, reason = "not found in the ONS workbook"')
        if flag:
            unverified.append(key)
    return weights, unverified


def _asb(raw: dict, origin: str) -> tuple[str, float]:
    asb = raw.get("asb", {})
    _check_keys(asb, _ASB_KEYS, f"[asb] of {origin}")
    policy = asb.get("policy", "exclude")
    if policy not in ASB_POLICIES:
        raise ConfigError(f"unknown anti-social behaviour policy in {origin}", given=repr(policy),
                          fix=f"use one of {', '.join(ASB_POLICIES)}")
    if policy == "fixed" and "weight" not in asb:
        raise ConfigError(f'[asb] policy = "fixed" in {origin} needs a weight', given=repr(asb),
                          fix="add weight = <days>, e.g. 0.1")
    return policy, _weight(asb.get("weight", 0.0), f"[asb] of {origin}") if policy == "fixed" else 0.0


def _resolve(reference: object, by_offence: dict, by_crime_type: dict, where: str) -> float:
    """A modifier floor: a number, or the weight of an offence code or crime type of the same table."""
    if isinstance(reference, str):
        for table in (by_offence, by_crime_type):
            if reference in table:
                return table[reference]
        raise ConfigError(f"{where} refers to an offence or crime type this table does not weigh",
                          given=repr(reference), fix="use an offence code or crime type of the table, or a number")
    return _weight(reference, where)


def _modifiers(raw: dict, by_offence: dict, by_crime_type: dict, known: set[str], origin: str) -> HarmModifiers:
    mods = raw.get("modifiers", {})
    _check_keys(mods, _MODIFIER_KEYS, f"[modifiers] of {origin}")
    injury = mods.get("injury")
    injury = None if injury is None else _resolve(injury, by_offence, by_crime_type, f"modifiers.injury of {origin}")
    weapon = mods.get("weapon", {})
    _check_keys(weapon, known | {"default"}, f"[modifiers.weapon] of {origin}")
    floors = {k: _resolve(v, by_offence, by_crime_type, f"modifiers.weapon.{k} of {origin}") for k, v in weapon.items()}
    default = floors.pop("default", None)
    bands = []
    if not isinstance(mods.get("value", []), list):
        raise ConfigError(f"modifiers.value of {origin} must be a list of tables", given=repr(mods["value"]), fix=_FIX)
    for i, band in enumerate(mods.get("value", [])):
        where = f"modifiers.value[{i}] of {origin}"
        _check_keys(band, _VALUE_KEYS, where)
        if band.get("offence") not in known or "min_value_gbp" not in band or "floor" not in band:
            raise ConfigError(f"{where} needs a known offence, min_value_gbp and floor", given=repr(band), fix=_FIX)
        bands.append(ValueFloor(band["offence"], _weight(band["min_value_gbp"], where),
                                _resolve(band["floor"], by_offence, by_crime_type, where)))
    return HarmModifiers(injury, default, floors, tuple(bands))


def _build(raw: dict, origin: str, builtin: bool) -> HarmWeights:
    _check_keys(raw, _TOP_KEYS - ({"base"} if builtin else set()), f"top level of {origin}")
    meta = raw.get("meta", {})
    _check_keys(meta, _META_KEYS, f"[meta] of {origin}")
    by_crime_type, unverified_types = _entries(raw, "crime_types", set(CRIME_TYPES) - {ASB}, origin)
    by_offence, unverified_offences = _entries(raw, "offences", known_offences(), origin)
    missing = [t for t in CRIME_TYPES if t != ASB and t not in by_crime_type]
    if missing:
        raise ConfigError(f"harm weights in {origin} leave crime types without a weight", given=", ".join(missing),
                          fix='add [crime_types."<name>"] weight = <days>, or start from base = "cchi"')
    policy, asb_weight = _asb(raw, origin)
    sources = meta.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise ConfigError(f"[meta] sources of {origin} must be a list of strings", given=repr(sources), fix=_FIX)
    return HarmWeights(
        name=str(meta.get("name", Path(origin).stem)), version=str(meta.get("version", "user")),
        by_offence=by_offence, by_crime_type=by_crime_type, asb_policy=policy, asb_weight=asb_weight,
        modifiers=_modifiers(raw, by_offence, by_crime_type, known_offences(), origin),
        sources=tuple(sources), unverified=tuple(sorted(unverified_types) + sorted(unverified_offences)),
    )
