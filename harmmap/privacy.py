"""Small-count suppression: what may be published of a count, and how.

What it does, for analysts
--------------------------
Incident counts for small areas can point at a person or a business: "2
robberies in this hexagon last month" may identify a victim or tell one
retailer how often another was hit.  Before a count leaves harmmap (the
assessment report, the web app's area statistics) it goes through one rule:

* **0** is shown as ``0``.
* **1 to threshold-1** (1-9 by default) is hidden and shown as ``<10``.
* **threshold and above** is rounded to the nearest ``base`` (5 by default;
  halves round up) and shown with thousands separators (``1,235``).
* A **value derived from a count** (harm, harm per store, a share) is hidden
  wherever its count is hidden, and shown as ``[c]`` ("confidential", the
  shorthand of the Government Statistical Service's guidance "Using symbols and
  shorthand in tables", 2022); a missing value is ``[x]`` ("not available").
* A **total** is rounded on its own from the *true* total, exactly like a row.
  It is never the sum of the rounded rows, so published tables need not add
  up; say so beside them.

Why zeros are shown.  Statistical disclosure control treats a zero as risky
when it tells the reader something about the *other* members of a group (group
attribute disclosure: "every shop in this street was hit"; Hundepool et al.,
*Handbook on Statistical Disclosure Control*, ch. 5 "Frequency tables",
sdctools.github.io/HandbookSDC).  Showing 0 beside a hidden 1-9 has a known
cost: a reader learns that a hidden cell holds *at least one* incident.  Here
that reveals nothing new, because the hotspot map already colours every cell
with an incident, so "something happened here" is published by design; hiding
zeros would only make every quiet area look like a suppressed one.  Zeros are
therefore shown.  Pass
``hide_zero=True`` where the mere presence of an incident is sensitive (e.g.
one store's own incident types): zeros are then hidden with the small counts.

Why the threshold must survive rounding.  A threshold is only meaningful if
rounding never publishes a number below it: with threshold 11 and base 5 a
count of 11 would print as 10.  :func:`suppress_counts` refuses such settings
(``round(threshold)`` must be at least ``threshold``), so every published count
is 0 or at least the threshold, a multiple of ``base``, and within ``base / 2``
of the truth.

Differencing.  A total published beside its rows lets a reader subtract.  Two
rules keep that from revealing a hidden count:

1. Totals are rounded on their own from the *true* total (as the US Census
   Bureau's disclosure rules put it, "totals or subtotals needed should be
   constructed before rounding"), never summed from the rounded rows.  With
   base 5 each published count is within -2..+2 of the truth, so "total minus
   the shown rows" is only known to within several units.
2. Rounding alone is not enough at the edges.  Two rows shown as "<10" with a
   total of "20" can only be 9 and 9 (their true total, 18, is the only sum
   of two counts under 10 that rounds to 20); twelve rows of "<10" under a
   total of "10" must all be 1.  So :func:`suppress_total`, given the rows'
   true counts (``parts=``), works out from what a reader can see the range
   each hidden row could still take.  If some publishable total would narrow
   a hidden row to fewer than ``MIN_CANDIDATES`` (3) values, the total is
   rounded more coarsely (to 2 x base, then 4 x base: 10, then 20), and only
   if that does not help either is it withheld (``[c]``).  On random tables of
   3-50 lognormal counts, a third to a half of the totals stay at base 5, the
   rest go to 10 or 20, and none was withheld.  The choice uses only published
   information (the rows as shown), never the hidden values, so the choice
   itself says nothing about them (deciding from the true total would:
   withholding exactly when the rows are 9 and 9 gives them away).

Only one linear relation (rows add up to the total) is checked.  Tables with
several overlapping totals (a total column *and* a total row, or the same
counts cut by place and by crime type) need each relation checked, and
arbitrary user-drawn aggregates cannot be protected this way: publish
aggregates of fixed geographies only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harmmap.errors import ConfigError

DEFAULT_THRESHOLD = 10
DEFAULT_BASE = 5
CONFIDENTIAL = "[c]"
NOT_AVAILABLE = "[x]"
MIN_CANDIDATES = 3  # a hidden count must stay ambiguous between at least this many values
TOTAL_BASE_STEPS = 3  # a total may be rounded to base, 2 x base or 4 x base before it is withheld


@dataclass(frozen=True, slots=True)
class SuppressedCounts:
    """Counts ready to publish.

    Attributes
    ----------
    shown : numpy.ndarray of float
        The published number: the rounded count, NaN where hidden.
    display : numpy.ndarray of object (str)
        The published text: ``"0"``, ``"<10"`` or ``"1,235"``.
    hidden : numpy.ndarray of bool
        True where the count was suppressed.
    threshold, base : int
        The settings used.
    """

    shown: np.ndarray
    display: np.ndarray
    hidden: np.ndarray
    threshold: int
    base: int


@dataclass(frozen=True, slots=True)
class SuppressedValues:
    """Values derived from counts, hidden wherever their count is.

    Attributes
    ----------
    shown : numpy.ndarray of float
        The value, NaN where hidden (or missing).
    display : numpy.ndarray of object (str)
        ``"[c]"`` where hidden, ``"[x]"`` where missing, else the value
        formatted with thousands separators and ``decimals`` places.
    hidden : numpy.ndarray of bool
        True where the value's count was suppressed.
    """

    shown: np.ndarray
    display: np.ndarray
    hidden: np.ndarray


def _check_settings(threshold: int, base: int) -> None:
    for name, setting in (("threshold", threshold), ("base", base)):
        if isinstance(setting, bool) or not isinstance(setting, (int, np.integer)) or setting < 1:
            raise ConfigError(
                f"suppression {name} must be a whole number of at least 1",
                given=setting,
                fix="use threshold=10 and base=5 (counts under 10 hidden, others rounded to 5)",
            )
    if _round_half_up(np.float64(threshold), base) < threshold:
        raise ConfigError(
            f"suppression threshold {threshold} rounds below itself with base {base}, so a count of "
            f"{threshold} would be published as a number under the threshold",
            given=f"threshold={threshold}, base={base}",
            fix="use a threshold that is a multiple of base (e.g. 10 with base 5)",
        )


def _check_counts(counts: object) -> np.ndarray:
    try:
        array = np.asarray(counts, dtype="float64")
    except (TypeError, ValueError) as error:
        raise ConfigError("counts must be numbers", given=type(counts).__name__,
                          fix="pass an array of non-negative counts") from error
    bad = ~np.isfinite(array) | (array < 0)
    if bad.any():
        raise ConfigError(
            f"counts must be finite and non-negative; {int(bad.sum())} are not",
            given=array[bad][:5].tolist(),
            fix="fill missing counts with 0 before suppression, or drop those rows",
        )
    return array


def _round_half_up(values: np.ndarray, base: int) -> np.ndarray:
    """Round to the nearest multiple of ``base``, halves up (exact for integer counts)."""
    return np.floor((2.0 * values + base) / (2.0 * base)) * base


def _format_numbers(values: np.ndarray, spec: str) -> np.ndarray:
    """Format each value with ``spec``; formats each distinct value once."""
    out = np.empty(values.shape, dtype=object)
    if values.size:
        unique, inverse = np.unique(values, return_inverse=True)
        texts = np.array([format(v, spec) for v in unique.tolist()], dtype=object)
        out[...] = texts[inverse.reshape(values.shape)]
    return out


def _readonly(*arrays: np.ndarray) -> None:
    for array in arrays:
        array.setflags(write=False)


def suppress_counts(
    counts: object, *, threshold: int = DEFAULT_THRESHOLD, base: int = DEFAULT_BASE, hide_zero: bool = False
) -> SuppressedCounts:
    """Hide small counts and round the others for publication.

    Parameters
    ----------
    counts : array-like of float
        True counts, finite and non-negative (any shape).
    threshold : int
        Counts from 1 to ``threshold - 1`` are hidden (default 10).
    base : int
        Other counts are rounded to the nearest multiple of ``base``, halves
        up (default 5).
    hide_zero : bool
        Also hide zeros (see the module notes); default False shows ``0``.

    Returns
    -------
    SuppressedCounts

    Raises
    ------
    ConfigError
        For a threshold or base under 1, a threshold that rounds below itself,
        or negative / non-finite counts.
    """
    _check_settings(threshold, base)
    true = _check_counts(counts)
    hidden = (true < threshold) & ((true > 0) | hide_zero)
    rounded = _round_half_up(true, base)
    shown = np.where(hidden, np.nan, rounded)
    display = _format_numbers(np.where(hidden, 0.0, rounded), ",.0f")
    display[hidden] = f"<{threshold}"
    _readonly(shown, display, hidden)
    return SuppressedCounts(shown, display, hidden, int(threshold), int(base))


def _published_interval(display: np.ndarray, shown: np.ndarray, threshold: int, base: int,
                        hide_zero: bool) -> tuple[np.ndarray, np.ndarray]:
    """Return the (lowest, highest) integer count a reader can infer from each published figure."""
    rounded_low = np.maximum(np.ceil(shown - base / 2.0), threshold)
    rounded_high = np.ceil(shown + base / 2.0) - 1
    small = display == f"<{threshold}"
    low = np.where(small, 0 if hide_zero else 1, np.where(shown == 0, 0, rounded_low))
    high = np.where(small, threshold - 1, np.where(shown == 0, 0, rounded_high))
    return low, high


def _fewest_candidates(parts: SuppressedCounts, hide_zero: bool, total_base: int) -> int:
    """Fewest values a hidden part could take, over every total that could be published."""
    t, b = parts.threshold, parts.base
    hidden_low, hidden_high = (0 if hide_zero else 1), t - 1
    k = int(parts.hidden.sum())
    low, high = _published_interval(parts.display[~parts.hidden], parts.shown[~parts.hidden], t, b, hide_zero)
    sum_low, sum_high = float(low.sum()), float(high.sum())
    possible_totals = np.arange(sum_low + k * hidden_low, sum_high + k * hidden_high + 1)
    published = suppress_counts(possible_totals, threshold=t, base=total_base, hide_zero=hide_zero)
    total_low, total_high = _published_interval(published.display, published.shown, t, total_base, hide_zero)
    hidden_sum_low = np.maximum(total_low - sum_high, k * hidden_low)
    hidden_sum_high = np.minimum(total_high - sum_low, k * hidden_high)
    part_low = np.maximum(hidden_low, hidden_sum_low - (k - 1) * hidden_high)
    part_high = np.minimum(hidden_high, hidden_sum_high - (k - 1) * hidden_low)
    return int((part_high - part_low + 1).min())


def suppress_total(
    total: object,
    *,
    parts: object = None,
    threshold: int = DEFAULT_THRESHOLD,
    base: int = DEFAULT_BASE,
    hide_zero: bool = False,
) -> SuppressedCounts:
    """Round a total for publication, from the TRUE total, and withhold it if differencing would tell.

    The total is suppressed and rounded on its own exactly like a row (never
    summed from published rows), so it generally differs from the sum of the
    published rows.  With ``parts`` it is rounded to ``base``, ``2 * base`` or
    ``4 * base``, the finest that keeps every hidden row ambiguous between at
    least ``MIN_CANDIDATES`` values whatever the total, or withheld (``[c]``)
    if none does (see the module notes).  The result's ``base`` says which.

    Parameters
    ----------
    total : float or array-like of float
        The true total (a scalar when ``parts`` is given).
    parts : array-like of float, optional
        The true counts of the rows published beside this total; they must
        add up to ``total`` (whole numbers).
    threshold, base, hide_zero
        As for :func:`suppress_counts`.

    Returns
    -------
    SuppressedCounts
        Same shape as ``total`` (0-d for a scalar: use ``.display.item()``).
    """
    result = suppress_counts(total, threshold=threshold, base=base, hide_zero=hide_zero)
    if parts is None:
        return result
    true_parts = np.ravel(_check_counts(parts))
    if result.shown.ndim != 0 or true_parts.sum() != float(total) or (true_parts % 1).any():
        raise ConfigError(
            "a total checked against its parts must be one number equal to the sum of whole-number parts",
            given=f"total {total!r}, parts summing to {true_parts.sum()!r}",
            fix="pass the true total of exactly the rows published beside it",
        )
    shown_parts = suppress_counts(true_parts, threshold=threshold, base=base, hide_zero=hide_zero)
    if not shown_parts.hidden.any():
        return result
    bases = [base * 2**step for step in range(TOTAL_BASE_STEPS)]
    for total_base in (b for b in bases if _round_half_up(np.float64(threshold), b) >= threshold):
        if _fewest_candidates(shown_parts, hide_zero, total_base) >= MIN_CANDIDATES:
            return suppress_counts(total, threshold=threshold, base=total_base, hide_zero=hide_zero)
    return SuppressedCounts(*_withheld(), int(threshold), int(base))


def _withheld() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    shown, display, hidden = np.array(np.nan), np.array(CONFIDENTIAL, dtype=object), np.array(True)
    _readonly(shown, display, hidden)
    return shown, display, hidden


def suppress_values_by_count(
    values: object,
    counts: object,
    *,
    threshold: int = DEFAULT_THRESHOLD,
    base: int = DEFAULT_BASE,
    hide_zero: bool = False,
    decimals: int = 1,
) -> SuppressedValues:
    """Hide values derived from counts (harm, rates, shares) wherever the count is hidden.

    Parameters
    ----------
    values : array-like of float
        Derived values; NaN means missing and is shown as ``[x]``.
    counts : array-like of float
        The true count behind each value (same shape).
    threshold, base, hide_zero
        As for :func:`suppress_counts` (``base`` only matters for validation).
    decimals : int
        Decimal places of the displayed values.

    Returns
    -------
    SuppressedValues
    """
    suppressed = suppress_counts(counts, threshold=threshold, base=base, hide_zero=hide_zero)
    try:
        array = np.asarray(values, dtype="float64")
    except (TypeError, ValueError) as error:
        raise ConfigError("values must be numbers", given=type(values).__name__,
                          fix="pass numeric values (NaN for missing)") from error
    if array.shape != suppressed.hidden.shape:
        raise ConfigError("values and counts must have the same shape",
                          given=f"{array.shape} and {suppressed.hidden.shape}",
                          fix="pass one count per value")
    if not isinstance(decimals, (int, np.integer)) or not 0 <= decimals <= 6:
        raise ConfigError("decimals must be a whole number from 0 to 6", given=decimals, fix="use 1")
    hidden = suppressed.hidden.copy()
    missing = ~np.isfinite(array)
    shown = np.where(hidden | missing, np.nan, array)
    display = _format_numbers(np.where(hidden | missing, 0.0, array), f",.{int(decimals)}f")
    display[missing] = NOT_AVAILABLE
    display[hidden] = CONFIDENTIAL
    _readonly(shown, display, hidden)
    return SuppressedValues(shown, display, hidden)


def describe_suppression(threshold: int = DEFAULT_THRESHOLD, base: int = DEFAULT_BASE) -> str:
    """Return the one-paragraph plain-English statement of the rule, for reports and pages."""
    _check_settings(threshold, base)
    rounding = "shown exactly" if base == 1 else f"rounded to the nearest {base}"
    small = (f"Counts from 1 to {threshold - 1} are shown as <{threshold}; " if threshold > 1 else "")
    return (
        f"{small}other counts are {rounding}. Values derived from a hidden count (such as harm) "
        f"are shown as {CONFIDENTIAL}; {NOT_AVAILABLE} means not available. Totals are rounded "
        "separately from the true totals, so rows may not add up to the total shown."
    )


__all__ = [
    "CONFIDENTIAL", "DEFAULT_BASE", "MIN_CANDIDATES", "DEFAULT_THRESHOLD", "NOT_AVAILABLE", "SuppressedCounts",
    "SuppressedValues", "describe_suppression", "suppress_counts", "suppress_total",
    "suppress_values_by_count",
]
