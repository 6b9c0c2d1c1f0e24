"""Harm weights: turn each incident into a number of "harm days".

Counting incidents treats a robbery and a stolen chocolate bar alike.  A harm
index weights each crime by how seriously the law treats it.  The default
table is the **Cambridge Crime Harm Index** (CCHI): the number of days of
custody at the starting point of the England and Wales sentencing guideline
for a first offender, with fines and community orders converted to
equivalent days (Sherman, Neyroud & Neyroud 2016, "The Cambridge Crime Harm
Index: measuring total harm from crime based on sentencing guidelines",
*Policing* 10(3):171-183; 2020 update by the Cambridge Centre for
Evidence-Based Policing).  Shoplifting scores 1 day, theft from the person 2,
robbery 365.  ``docs/harm_weights.md`` explains how each police.uk category
and retailer offence got its weight.

How one incident is weighted
----------------------------
1. **Base weight.**  Look the incident's ``offence`` code up in the table's
   offence weights; when the code is not there, use its police.uk
   ``crime_type`` weight (police.uk rows carry the snake_case crime type as
   their offence, e.g. ``shoplifting``, which therefore means the crime-type
   weight).  A row known to neither is an error that names it (a silent zero
   would hide a mapping mistake).
2. **Anti-social behaviour** (offence ``anti_social_behaviour``, or crime
   type "Anti-social behaviour" when the offence code is not in the table) is
   not a crime and has no sentencing guideline, so it has no CCHI value.  Its
   weight is an explicit policy of the table: ``"exclude"`` (weight 0, the
   default for ``cchi`` and ``css``) or ``"fixed"`` (a stated weight, e.g. 1
   in ``count``).  No modifier applies to it.
3. **Modifiers** use the retailer's own fields and never touch a row where the
   field is blank (police.uk rows always are).  Each is a *floor*: the harm
   becomes at least the weight of a more serious offence the recorded facts
   amount to, and is never lowered.  This follows the Home Office Counting
   Rules' principal-crime rule (an incident with several offences counts as
   the most serious) rather than inventing multipliers:

   * ``injury`` true: at least an assault occasioning actual bodily harm;
   * ``weapon`` true: an offence-specific floor (theft with a weapon is at
     least robbery, burglary with a weapon is aggravated burglary, an assault
     or threat with a weapon is at least threatening with a weapon, anything
     else at least possession of an offensive weapon);
   * ``value_gbp``: value bands, e.g. criminal damage of GBP 5,000 or more.

The table itself (which offence floors to which) is data, loaded by
:func:`harmmap.weights.load_harm_weights`; this module only applies it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd

from harmmap.errors import ConfigError, SchemaError
from harmmap.schema import CRIME_TYPES

ASB = "Anti-social behaviour"
ASB_OFFENCE = "anti_social_behaviour"
ASB_POLICIES = ("exclude", "fixed")


def _check_weight(label: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"harm weight for {label} must be a finite number >= 0", given=repr(value),
                          fix="use a number of days such as 1 or 182.5")
    return float(value)


def _frozen_weights(label: str, table: Mapping[str, object]) -> Mapping[str, float]:
    return MappingProxyType({str(k): _check_weight(f"{label} {k!r}", v) for k, v in table.items()})


@dataclass(frozen=True, slots=True)
class ValueFloor:
    """Rows of ``offence`` with ``value_gbp >= min_value_gbp`` weigh at least ``weight``."""

    offence: str
    min_value_gbp: float
    weight: float


@dataclass(frozen=True, slots=True)
class HarmModifiers:
    """Floors applied from the retailer fields ``injury``, ``weapon`` and ``value_gbp``.

    Attributes
    ----------
    injury_floor : float or None
        Minimum harm of a row whose ``injury`` is true.
    weapon_floor_default : float or None
        Minimum harm of a row whose ``weapon`` is true and whose offence is not
        in ``weapon_floor_by_offence``.
    weapon_floor_by_offence : mapping of str to float
        Offence-specific minimum harm when ``weapon`` is true.
    value_floors : tuple of ValueFloor
        Value bands; every band a row reaches applies.
    """

    injury_floor: float | None = None
    weapon_floor_default: float | None = None
    weapon_floor_by_offence: Mapping[str, float] = field(default_factory=dict)
    value_floors: tuple[ValueFloor, ...] = ()

    def __post_init__(self):
        for name in ("injury_floor", "weapon_floor_default"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, _check_weight(name, getattr(self, name)))
        object.__setattr__(self, "weapon_floor_by_offence",
                           _frozen_weights("weapon floor", self.weapon_floor_by_offence))
        for band in self.value_floors:
            _check_weight(f"value floor of {band.offence!r}", band.weight)
            _check_weight(f"value threshold of {band.offence!r}", band.min_value_gbp)
        object.__setattr__(self, "value_floors", tuple(self.value_floors))


@dataclass(frozen=True, slots=True)
class HarmWeights:
    """One versioned harm-weight table.

    Attributes
    ----------
    name, version : str
        E.g. ``"cchi"``, ``"2020"``; recorded with every scoring run.
    by_offence : mapping of str to float
        Weight per finer offence code (looked up first).
    by_crime_type : mapping of str to float
        Weight per police.uk crime type (the fallback).  Anti-social behaviour
        is not in either table: see ``asb_policy``.
    asb_policy : {"exclude", "fixed"}
        How anti-social behaviour rows are weighted: 0, or ``asb_weight``.
    asb_weight : float
        The fixed weight (ignored when excluded).
    modifiers : HarmModifiers
        Floors from retailer fields.
    sources : tuple of str
        Citations of the figures.
    unverified : tuple of str
        Offence codes and crime types whose weight could not be checked
        against the published source (the CLI warns about them).
    """

    name: str
    version: str
    by_offence: Mapping[str, float]
    by_crime_type: Mapping[str, float]
    asb_policy: str = "exclude"
    asb_weight: float = 0.0
    modifiers: HarmModifiers = field(default_factory=HarmModifiers)
    sources: tuple[str, ...] = ()
    unverified: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "by_offence", _frozen_weights("offence", self.by_offence))
        object.__setattr__(self, "by_crime_type", _frozen_weights("crime type", self.by_crime_type))
        unknown = sorted(set(self.by_crime_type) - set(CRIME_TYPES))
        if unknown:
            raise ConfigError("harm weights name crime types police.uk does not use", given=", ".join(unknown),
                              fix=f"use the police.uk names: {', '.join(CRIME_TYPES)}")
        if ASB in self.by_crime_type or ASB_OFFENCE in self.by_offence:
            raise ConfigError("anti-social behaviour is weighted by the ASB policy, not the weight tables",
                              given=self.name, fix='set asb_policy="exclude" or asb_policy="fixed" with asb_weight')
        if self.asb_policy not in ASB_POLICIES:
            raise ConfigError("unknown anti-social behaviour policy", given=repr(self.asb_policy),
                              fix=f"use one of {', '.join(ASB_POLICIES)}")
        object.__setattr__(self, "asb_weight", _check_weight("anti-social behaviour", self.asb_weight))
        object.__setattr__(self, "sources", tuple(self.sources))
        object.__setattr__(self, "unverified", tuple(self.unverified))

    @property
    def asb_effective_weight(self) -> float:
        """The weight an anti-social behaviour row gets under the policy."""
        return self.asb_weight if self.asb_policy == "fixed" else 0.0


def crime_type_to_offence(crime_type: str) -> str:
    """Return the offence code police.uk rows carry for a crime type: its snake_case form."""
    return re.sub(r"[^a-z0-9]+", "_", crime_type.lower()).strip("_")


def _codes(column: pd.Series) -> tuple[np.ndarray, list]:
    """Integer codes (-1 for missing) and the distinct labels, without touching rows one by one."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy(), list(column.cat.categories)
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    return codes, list(uniques)


def _lookup(labels: list, table: Mapping[str, float]) -> np.ndarray:
    """Weight per label, NaN when absent; one extra NaN at the end so code -1 (missing) maps to it."""
    return np.array([table.get(label, np.nan) if isinstance(label, str) else np.nan for label in labels]
                    + [np.nan], dtype="float64")


def _is(labels: list, value: str) -> np.ndarray:
    return np.array([label == value for label in labels] + [False])


def _flagged_rows(incidents: pd.DataFrame, name: str, not_asb: np.ndarray) -> np.ndarray | None:
    """Positions of non-ASB rows whose nullable-bool column ``name`` is true (None when there are none)."""
    if name not in incidents.columns:
        return None
    column = incidents[name]
    if column.dtype != bool and column.dtype != "boolean":
        column = column.astype("boolean")
    if not column.any():  # police.uk rows: all blank, nothing to do
        return None
    rows = np.flatnonzero(column.to_numpy(dtype=bool, na_value=False) & not_asb)
    return rows if rows.size else None


def _raise_unknown(count: int, offences: list, crime_types: list, weights: HarmWeights):
    pairs = sorted(set(zip(offences, crime_types)), key=str)
    shown = "; ".join(f"offence {o!r} / crime type {c!r}" for o, c in pairs[:5])
    raise ConfigError(f"{count} incident(s) have an offence and crime type the {weights.name!r} harm "
                      "weights do not know", given=shown,
                      fix="add the offence code or crime type to a harm weights override file "
                          "(see docs/harm_weights.md), or correct the category mapping")


def _weigh_by_crime_type(harm, asb, rows: np.ndarray, incidents: pd.DataFrame, off_codes, off_labels,
                         weights: HarmWeights) -> None:
    """Fill ``harm`` (and ``asb``) for ``rows`` whose offence code the table does not know."""
    ct_codes, ct_labels = _codes(incidents["crime_type"].iloc[rows])
    values = _lookup(ct_labels, weights.by_crime_type)[ct_codes]
    is_asb = _is(ct_labels, ASB)[ct_codes]
    values[is_asb] = weights.asb_effective_weight
    harm[rows], asb[rows] = values, is_asb
    unknown = np.flatnonzero(np.isnan(values))
    if unknown.size:
        sample = unknown[:10_000]
        _raise_unknown(unknown.size, [off_labels[c] if c >= 0 else None for c in off_codes[rows[sample]]],
                       [ct_labels[c] if c >= 0 else None for c in ct_codes[sample]], weights)


def _apply_modifiers(harm, incidents, off_codes, off_labels, not_asb, modifiers: HarmModifiers) -> None:
    """Raise ``harm`` to the floors the retailer fields call for; blank fields and ASB rows are left alone."""
    if modifiers.injury_floor is not None and (rows := _flagged_rows(incidents, "injury", not_asb)) is not None:
        harm[rows] = np.maximum(harm[rows], modifiers.injury_floor)
    has_weapon_floor = modifiers.weapon_floor_default is not None or modifiers.weapon_floor_by_offence
    if has_weapon_floor and (rows := _flagged_rows(incidents, "weapon", not_asb)) is not None:
        default = modifiers.weapon_floor_default or 0.0
        floors = np.array([modifiers.weapon_floor_by_offence.get(label, default) for label in off_labels]
                          + [default], dtype="float64")
        harm[rows] = np.maximum(harm[rows], floors[off_codes[rows]])
    if modifiers.value_floors and "value_gbp" in incidents.columns:
        position = {label: i for i, label in enumerate(off_labels)}
        bands = [band for band in modifiers.value_floors if band.offence in position]
        if bands:
            value = incidents["value_gbp"].to_numpy(dtype="float64", na_value=np.nan)
            for band in bands:
                rows = np.flatnonzero((off_codes == position[band.offence]) & (value >= band.min_value_gbp) & not_asb)
                harm[rows] = np.maximum(harm[rows], band.weight)


def incidents_to_harm(incidents: pd.DataFrame, weights: HarmWeights) -> np.ndarray:
    """Return the harm of each incident, aligned with the rows of ``incidents``.

    Parameters
    ----------
    incidents : pandas.DataFrame
        Needs ``crime_type`` and ``offence`` (text or categorical); uses
        ``injury``, ``weapon`` (nullable bool) and ``value_gbp`` (nullable
        float) when present.  Blank fields never change the harm.
    weights : HarmWeights
        E.g. ``harmmap.weights.load_harm_weights("cchi")``.

    Returns
    -------
    numpy.ndarray of float64
        One value >= 0 per row, in row order.

    Raises
    ------
    SchemaError
        ``crime_type`` or ``offence`` is missing.
    ConfigError
        A row's offence code and crime type are both unknown to ``weights``.

    Examples
    --------
    >>> import pandas as pd
    >>> from harmmap.weights import load_harm_weights
    >>> rows = pd.DataFrame({"crime_type": ["Shoplifting", "Robbery"], "offence": ["shoplifting", "robbery"]})
    >>> incidents_to_harm(rows, load_harm_weights("cchi")).tolist()
    [1.0, 365.0]
    """
    missing_columns = [c for c in ("crime_type", "offence") if c not in incidents.columns]
    if missing_columns:
        raise SchemaError("incidents lack the columns harm weighting needs", given=", ".join(missing_columns),
                          fix="pass incidents with the canonical columns (harmmap.schema.INCIDENT_COLUMNS)")
    off_codes, off_labels = _codes(incidents["offence"])
    by_offence = {crime_type_to_offence(t): w for t, w in weights.by_crime_type.items()} | dict(weights.by_offence)
    harm = _lookup(off_labels, by_offence)[off_codes]
    asb = _is(off_labels, ASB_OFFENCE)[off_codes]
    np.copyto(harm, weights.asb_effective_weight, where=asb)
    fallback = np.flatnonzero(np.isnan(harm))
    if fallback.size:
        _weigh_by_crime_type(harm, asb, fallback, incidents, off_codes, off_labels, weights)
    _apply_modifiers(harm, incidents, off_codes, off_labels, ~asb, weights.modifiers)
    return harm
