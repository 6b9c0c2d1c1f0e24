"""Map retailers' incident categories to police.uk crime types and finer offences.

The table lives in ``harmmap/data/retailer_categories.toml``: one entry per
harmmap category key, with its police.uk ``crime_type``, an ``offence`` code,
``aliases`` and a ``note`` saying why.  A label matches when, after
:func:`normalise_label` (case, whitespace and punctuation ignored), it equals a
key or an alias.  A mapping file's ``[categories]`` section adds labels or
overrides built-in ones (label -> key).

Violence against staff is the one category whose offence depends on another
field: ``assault_with_injury`` when the injury flag is true, ``common_assault_retail_worker``
otherwise (false or blank).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from harmmap.errors import MappingError
from harmmap.schema import CRIME_TYPES

CATEGORIES_FILE = Path(__file__).resolve().parents[1] / "data" / "retailer_categories.toml"


@dataclass(frozen=True)
class Category:
    """One harmmap retailer category."""

    key: str
    crime_type: str
    offence: str
    offence_with_injury: str | None
    aliases: tuple[str, ...]
    note: str


def normalise_label(text: str) -> str:
    """Return a label lower-cased with punctuation and runs of whitespace turned into single spaces."""
    return re.sub(r"[\W_]+", " ", str(text).casefold()).strip()


@lru_cache(maxsize=1)
def load_categories() -> dict[str, Category]:
    """Return the built-in categories by key, checked against police.uk's crime types."""
    text = CATEGORIES_FILE.read_text(encoding="utf-8")
    table = tomllib.loads(text)
    out = {}
    for key, entry in table.items():
        if entry["crime_type"] not in CRIME_TYPES:
            raise AssertionError(f"retailer_categories.toml: {key} has unknown crime_type {entry['crime_type']!r}")
        out[key] = Category(key, entry["crime_type"], entry["offence"], entry.get("offence_with_injury"),
                            tuple(entry.get("aliases", ())), entry["note"])
    return out


@lru_cache(maxsize=1)
def _builtin_labels() -> dict[str, str]:
    """Normalised key or alias -> key."""
    labels = {}
    for key, category in load_categories().items():
        for label in (key, *category.aliases):
            labels.setdefault(normalise_label(label), key)
    return labels


def resolve_category(label: str, extra: dict[str, str] | None = None) -> str | None:
    """Return the category key a label means (``extra`` first), or None when unknown."""
    return _resolver(extra)(label)


def _resolver(extra: dict[str, str] | None):
    builtin = _builtin_labels()
    own = {normalise_label(k): builtin.get(normalise_label(v)) for k, v in (extra or {}).items()}
    return lambda label: own[n] if (n := normalise_label(label)) in own else builtin.get(n)


def check_extra_categories(extra: dict[str, str]) -> dict[str, str]:
    """Return ``extra`` (label -> key) after checking every target is a known category.

    Raises
    ------
    MappingError
        A label is mapped to something that is not a category key or alias.
    """
    for label, key in extra.items():
        if not isinstance(key, str) or normalise_label(key) not in _builtin_labels():
            raise MappingError(f"[categories] maps {label!r} to an unknown category", given=repr(key),
                               fix=f"use one of: {', '.join(load_categories())}")
    return dict(extra)


def map_categories(labels: pd.Series, extra: dict[str, str] | None = None,
                   injury: pd.Series | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map category labels to (crime_type, offence, unknown_mask), one distinct label at a time.

    Parameters
    ----------
    labels : pandas.Series of str
        The retailer's category per row (NA for blank: unknown).
    extra : dict, optional
        The mapping file's ``[categories]``: label -> key.
    injury : pandas.Series of bool, optional
        Injury flag per row (nullable); selects ``offence_with_injury``.

    Returns
    -------
    crime_type, offence : numpy.ndarray of object
        ``None`` where unknown.
    unknown_mask : numpy.ndarray of bool
    """
    codes, uniques = pd.factorize(pd.Series(labels, dtype="string").reset_index(drop=True))
    categories = load_categories()
    resolve = _resolver(extra)
    keys = [resolve(label) for label in uniques]
    crime = np.array([categories[k].crime_type if k else None for k in keys] + [None], dtype=object)
    offence = np.array([categories[k].offence if k else None for k in keys] + [None], dtype=object)
    hurt = np.array([categories[k].offence_with_injury if k else None for k in keys] + [None], dtype=object)
    crime_type, offence_out, with_injury = crime[codes], offence[codes], hurt[codes]
    if injury is not None:
        flag = pd.Series(injury, dtype="boolean").reset_index(drop=True).fillna(False).to_numpy(dtype=bool)
        use = flag & (with_injury != None)  # noqa: E711 (element-wise)
        offence_out = np.where(use, with_injury, offence_out)
    return crime_type, offence_out, crime_type == None  # noqa: E711


def unknown_category_detail(label: str) -> str:
    """Explain an unknown category: what was given, the known ones, and how to add it."""
    known = ", ".join(load_categories())
    return (f"unknown category {label!r}; known categories: {known}; "
            f'to use it, add a line under [categories] in the mapping file, e.g. "{label}" = "theft"')
