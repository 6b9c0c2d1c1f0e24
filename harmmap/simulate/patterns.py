"""Temporal profiles of planted hotspots.

A planted hotspot is an H3 cell with extra incidents on top of the background.
Its monthly extra counts follow one of five patterns, named as in emerging
hotspot analysis:

persistent
    elevated every month at a steady rate;
new
    elevated only in the final month, at :data:`NEW_BOOST` times the base rate;
intensifying
    elevated in at least 90 % of months (always the final one), the rate rising
    from 0.4x to 1.6x the base rate;
diminishing
    the same, falling from 1.6x to 0.4x;
sporadic
    on in a random ~40 % of months, off in the others, and always on in the
    final month after an off month (as ArcGIS defines a sporadic hot spot:
    hot now, and on again / off again before).

Counts are Poisson draws of the rate, at least 1 in every elevated month.
"""

from __future__ import annotations

import numpy as np

PATTERNS: tuple[str, ...] = ("persistent", "new", "intensifying", "diminishing", "sporadic")
#: A new hotspot has one month to show itself, so it is planted this many times stronger.
NEW_BOOST = 2.5

#: Crime types planted hotspots are made of, with their relative frequency.
PLANTED_TYPES: dict[str, float] = {
    "Shoplifting": 0.35,
    "Violence and sexual offences": 0.2,
    "Anti-social behaviour": 0.15,
    "Theft from the person": 0.1,
    "Public order": 0.08,
    "Robbery": 0.06,
    "Criminal damage and arson": 0.06,
}


def build_profile(pattern: str, base_rate: float, months: int, rng: np.random.Generator) -> np.ndarray:
    """Return the extra incident count of a planted cell for each month.

    Parameters
    ----------
    pattern : str
        One of :data:`PATTERNS`.
    base_rate : float
        Typical extra incidents per elevated month.
    months : int
        Number of months simulated.
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray of int64, length ``months``
    """
    rate = _rates(pattern, months, rng) * base_rate
    counts = rng.poisson(rate)
    return np.where(rate > 0, np.maximum(counts, 1), 0).astype("int64")


def _rates(pattern: str, months: int, rng: np.random.Generator) -> np.ndarray:
    """Relative rate per month (0 = not elevated)."""
    if pattern == "persistent":
        return np.ones(months)
    if pattern == "new":
        return NEW_BOOST * (np.arange(months) == months - 1)
    if pattern in ("intensifying", "diminishing"):
        trend = np.linspace(0.4, 1.6, months) if months > 1 else np.ones(1)
        trend = trend if pattern == "intensifying" else trend[::-1].copy()
        off = rng.permutation(months - 1)[: int(0.05 * months)]
        trend[off] = 0.0
        return trend
    if pattern == "sporadic":
        on = rng.random(months) < 0.4
        if months >= 3:  # on again in the final month after an off month, and on at least once before
            on[-2:] = (False, True)
            if not on[:-2].any():
                on[rng.integers(0, months - 2)] = True
        elif not on.any():
            on[-1] = True
        return on.astype(float)
    raise ValueError(f"unknown pattern {pattern!r}; known: {', '.join(PATTERNS)}")
