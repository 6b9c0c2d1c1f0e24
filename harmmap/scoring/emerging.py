"""Emerging hot spots: ArcGIS Pro's 17 space-time pattern categories, for every location at once.

For analysts
------------
Emerging Hot Spot Analysis looks at each location's run of hot spot maps (one
per period, from :mod:`harmmap.scoring.cube`) and names the pattern: is this
a *new* hot spot, one that has been hot for years and is getting hotter
(*intensifying*), one that keeps coming and going (*sporadic*)?  Each bin is
either a significant hot spot, a significant cold spot or neither (the caller
has already applied alpha and any false discovery rate correction); the
*intensity* trend is the Mann-Kendall test (:mod:`harmmap.scoring.trend`) of
the location's Gi* z-scores over time.

The definitions, paraphrased from Esri, "How Emerging Hot Spot Analysis
works", ArcGIS Pro tool reference,
https://pro.arcgis.com/en/pro-app/latest/tool-reference/space-time-pattern-mining/learnmoreemerging.htm
(code in brackets; cold spots mirror them with negative codes):

[+1] New Hot Spot
    A significant hot spot for the final time step that has never been a
    significant hot spot before.
[+2] Consecutive Hot Spot
    A single uninterrupted run of at least two significant hot spot bins in
    the final time steps; never a significant hot spot before that final run;
    less than 90 % of all bins are significant hot spots.
[+3] Intensifying Hot Spot
    A significant hot spot for 90 % of the time steps, including the final
    one; the intensity of clustering of high values (Gi* z) is increasing
    overall and the increase is statistically significant.
[+4] Persistent Hot Spot
    A significant hot spot for 90 % of the time steps with no discernible
    trend in the intensity of clustering.
[+5] Diminishing Hot Spot
    A significant hot spot for 90 % of the time steps, including the final
    one; the intensity of clustering is decreasing significantly.
[+6] Sporadic Hot Spot
    A significant hot spot for the final time step with a history of also
    being an on-again, off-again hot spot; less than 90 % of the time steps
    have been significant hot spots and none have been significant cold spots.
[+7] Oscillating Hot Spot
    A significant hot spot for the final time step that has a history of
    also being a significant cold spot during a prior time step; less than
    90 % of the time steps have been significant hot spots.
[+8] Historical Hot Spot
    The most recent time period is not hot, but at least 90 % of the time
    steps have been significant hot spots.
[0] No Pattern Detected
    None of the above.

For cold spots swap hot and cold: an *intensifying* cold spot gets colder, so
its Gi* z has a significant **decreasing** trend; a *diminishing* cold spot has
a significant **increasing** trend.

How harmmap resolves what the text leaves open
----------------------------------------------
* "90 %" is exact integer arithmetic: ``10 * count >= 9 * n_periods``
  (36 periods need 33 hot bins, 32 are not enough; 10 periods need 9).
* A significant trend is ``trend_p < trend_alpha`` (strict), its direction
  the sign of ``trend_z``.
* The final step decides the family.  Final step hot: only hot patterns can
  apply, tried in the order new, consecutive, intensifying, persistent,
  diminishing, sporadic, oscillating; so a location that was never hot before
  but had earlier cold bins is New (or Consecutive), not Oscillating, and
  every location hot at the end gets a hot pattern.  Final step cold: the cold
  mirrors.  Final step neither: Historical Hot or Historical Cold by the 90 %
  rule, else No Pattern.  Hence Persistent needs the final step hot (without
  it the location is Historical), and a location hot for 90 % of the time but
  cold at the end is a cold pattern (e.g. New Cold Spot), not Historical Hot.
* Sporadic and Oscillating need the location to have been hot *before its
  final run*, with at least one non-hot step in between (on-again, off-again);
  Sporadic also needs no cold bin ever, Oscillating at least one.
* A location hot in earlier steps but not at the end and hot in less than
  90 % of them is No Pattern, as in ArcGIS.

One open-source port, R's sfdep (``emerging_hotspot_analysis``), differs on
two points: its Sporadic drops the final-step requirement (any location with
some hot and no cold bins under 90 %), and its Historical tests that the final
Gi* z is *negative* instead of "the final step is not a significant hot spot".
harmmap follows the ArcGIS text.

Everything is vectorised over locations (counts, final-run lengths by argmax
on the reversed series); millions of locations classify in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harmmap.errors import ConfigError

#: The eight pattern stems in code order: hot spot codes are 1..8, cold spot codes -1..-8.
PATTERNS: tuple[str, ...] = ("new", "consecutive", "intensifying", "persistent", "diminishing",
                             "sporadic", "oscillating", "historical")
NO_PATTERN = 0
#: code -> snake_case key, e.g. 1 -> "new_hot_spot", -2 -> "consecutive_cold_spot", 0 -> "no_pattern".
EMERGING_CODES: dict[int, str] = {
    0: "no_pattern",
    **{k: f"{stem}_hot_spot" for k, stem in enumerate(PATTERNS, start=1)},
    **{-k: f"{stem}_cold_spot" for k, stem in enumerate(PATTERNS, start=1)},
}
#: code -> display name exactly as ArcGIS Pro writes it, e.g. 1 -> "New Hot Spot".
EMERGING_NAMES: dict[int, str] = {
    0: "No Pattern Detected",
    **{k: f"{stem.capitalize()} Hot Spot" for k, stem in enumerate(PATTERNS, start=1)},
    **{-k: f"{stem.capitalize()} Cold Spot" for k, stem in enumerate(PATTERNS, start=1)},
}
#: Locations per chunk (keeps the temporaries to a few MB).
EMERGING_CHUNK = 65_536


@dataclass(frozen=True, slots=True)
class BinSummary:
    """Per-location summary of its significant bins (arrays of shape (n_locations,)).

    Attributes
    ----------
    hot_bins, cold_bins : numpy.ndarray of int32
        Number of periods that are significant hot / cold spots.
    final_state : numpy.ndarray of int8
        +1 hot, -1 cold, 0 neither, in the final period.
    final_run : numpy.ndarray of int32
        Length of the uninterrupted run of the final state that ends in the
        final period (0 when the final period is neither hot nor cold).
    """

    hot_bins: np.ndarray
    cold_bins: np.ndarray
    final_state: np.ndarray
    final_run: np.ndarray


def _check_bins(hot: object, cold: object) -> tuple[np.ndarray, np.ndarray]:
    hot, cold = np.asarray(hot), np.asarray(cold)
    if hot.dtype != np.bool_ or cold.dtype != np.bool_:
        raise ConfigError("hot and cold must be boolean arrays", given=f"dtypes {hot.dtype} and {cold.dtype}",
                          fix="pass the significance flags, e.g. SpaceTimeGi.hot and SpaceTimeGi.cold")
    if hot.ndim != 2 or hot.shape != cold.shape or hot.shape[1] < 1:
        raise ConfigError("hot and cold must be (n_locations, n_periods) arrays of the same shape, with periods",
                          given=f"shapes {hot.shape} and {cold.shape}", fix="one row per location, oldest period first")
    return hot, cold


def _summarise_chunk(hot: np.ndarray, cold: np.ndarray, start: int) -> tuple[np.ndarray, ...]:
    both = hot & cold
    if both.any():
        row, period = np.argwhere(both)[0]
        raise ConfigError("a bin cannot be both a hot and a cold spot",
                          given=f"location {start + row}, period {period}", fix="check how hot and cold were derived")
    state = hot.view(np.int8) - cold.view(np.int8)
    final = state[:, -1]
    changed = state[:, ::-1] != final[:, np.newaxis]
    run = np.where(changed.any(axis=1), changed.argmax(axis=1), state.shape[1]).astype(np.int32)
    run[final == 0] = 0
    return (hot.sum(axis=1, dtype=np.int32), cold.sum(axis=1, dtype=np.int32), final.copy(), run)


def summarise_bins(hot: object, cold: object) -> BinSummary:
    """Count each location's hot and cold bins and measure its final run.

    Parameters
    ----------
    hot, cold : array-like of bool, shape (n_locations, n_periods)
        Bin is a significant hot / cold spot; oldest period first; never both.

    Returns
    -------
    BinSummary

    Raises
    ------
    ConfigError
        When the arrays are not boolean, not 2-D with the same shape, have no
        period, or a bin is both hot and cold.

    Examples
    --------
    >>> s = summarise_bins([[False, True, False, True, True]], [[True, False, False, False, False]])
    >>> s.hot_bins.tolist(), s.cold_bins.tolist(), s.final_state.tolist(), s.final_run.tolist()
    ([3], [1], [1], [2])
    """
    hot, cold = _check_bins(hot, cold)
    parts = [_summarise_chunk(hot[a:a + EMERGING_CHUNK], cold[a:a + EMERGING_CHUNK], a)
             for a in range(0, hot.shape[0], EMERGING_CHUNK)]
    if not parts:
        empty = np.zeros(0, np.int32)
        return BinSummary(empty, empty.copy(), np.zeros(0, np.int8), empty.copy())
    return BinSummary(*(np.concatenate(column) for column in zip(*parts)))


def _check_trend(trend_z: object, trend_p: object, n_locations: int, trend_alpha: float) -> tuple:
    z, p = np.asarray(trend_z, dtype=np.float64), np.asarray(trend_p, dtype=np.float64)
    if z.shape != (n_locations,) or p.shape != (n_locations,):
        raise ConfigError("trend_z and trend_p must hold one value per location",
                          given=f"shapes {z.shape} and {p.shape} for {n_locations} locations",
                          fix="pass MannKendall.z and MannKendall.p of each location's Gi* z series")
    if not (np.isfinite(z).all() and np.isfinite(p).all()) or (p.size and (p.min() < 0 or p.max() > 1)):
        raise ConfigError("trend_z must be finite and trend_p between 0 and 1",
                          given=f"z range {np.nanmin(z, initial=0)!r}..{np.nanmax(z, initial=0)!r}, "
                                f"p range {np.nanmin(p, initial=0)!r}..{np.nanmax(p, initial=1)!r}",
                          fix="use the Mann-Kendall results unchanged")
    if isinstance(trend_alpha, bool) or not isinstance(trend_alpha, (int, float, np.floating)) \
            or not 0.0 < trend_alpha < 1.0:
        raise ConfigError("trend_alpha must be strictly between 0 and 1", given=repr(trend_alpha), fix="use 0.05")
    significant = p < trend_alpha
    return significant & (z > 0), significant & (z < 0)


def _classify_family(bins: np.ndarray, final_run: np.ndarray, other_bins: np.ndarray, n_periods: int,
                     rising: np.ndarray, falling: np.ndarray) -> np.ndarray:
    """Return codes 1..7 for locations whose final step is in this family (hot, or cold mirrored)."""
    ninety = 10 * bins >= 9 * n_periods
    earlier = bins > final_run  # in the family at some step before the final run (a gap in between)
    code = np.select(
        [~earlier & (final_run == 1), ~earlier & ~ninety, ninety & rising, ninety & ~rising & ~falling,
         ninety & falling, other_bins == 0],
        [1, 2, 3, 4, 5, 6], default=7)
    return code.astype(np.int8)


def _classify_chunk(summary: tuple, up: np.ndarray, down: np.ndarray, n_periods: int) -> np.ndarray:
    hot_bins, cold_bins, final, run = summary
    hot_code = _classify_family(hot_bins, run, cold_bins, n_periods, up, down)
    cold_code = _classify_family(cold_bins, run, hot_bins, n_periods, down, up)
    historical = np.where(10 * hot_bins >= 9 * n_periods, 8, np.where(10 * cold_bins >= 9 * n_periods, -8, 0))
    return np.where(final > 0, hot_code, np.where(final < 0, -cold_code, historical)).astype(np.int8)


def classify_emerging(hot: object, cold: object, trend_z: object, trend_p: object, *,
                      trend_alpha: float = 0.05) -> np.ndarray:
    """Classify every location into one of ArcGIS's 17 emerging hot spot patterns.

    Parameters
    ----------
    hot, cold : array-like of bool, shape (n_locations, n_periods)
        Bin is a significant hot / cold spot (after alpha and FDR); oldest
        period first; a bin is never both.
    trend_z, trend_p : array-like of float, shape (n_locations,)
        Mann-Kendall z and p of each location's Gi* z-score series.
    trend_alpha : float, default 0.05
        A trend is significant when ``trend_p < trend_alpha``.

    Returns
    -------
    numpy.ndarray of int8, shape (n_locations,)
        0 no pattern; 1..8 new, consecutive, intensifying, persistent,
        diminishing, sporadic, oscillating, historical hot spot; -1..-8 the
        same cold spots.  See :data:`EMERGING_NAMES` and :func:`codes_to_names`.

    Raises
    ------
    ConfigError
        For non-boolean or mis-shaped bins, a bin both hot and cold, trend
        arrays of the wrong length, non-finite z, p outside [0, 1] or a bad
        ``trend_alpha``.

    Examples
    --------
    >>> hot = [[False] * 9 + [True], [True] * 10]
    >>> classify_emerging(hot, [[False] * 10] * 2, [0.5, 2.5], [0.6, 0.01]).tolist()
    [1, 3]
    """
    hot, cold = _check_bins(hot, cold)
    up, down = _check_trend(trend_z, trend_p, hot.shape[0], trend_alpha)
    codes = np.empty(hot.shape[0], np.int8)
    for a in range(0, hot.shape[0], EMERGING_CHUNK):
        b = a + EMERGING_CHUNK
        summary = _summarise_chunk(hot[a:b], cold[a:b], a)
        codes[a:b] = _classify_chunk(summary, up[a:b], down[a:b], hot.shape[1])
    return codes


def _check_codes(codes: object) -> np.ndarray:
    codes = np.asarray(codes)
    integer = codes.dtype.kind in "iu"
    if not integer or (codes.size and (codes.min() < -8 or codes.max() > 8)):
        span = f", range {codes.min()}..{codes.max()}" if integer and codes.size else ""
        raise ConfigError("emerging pattern codes must be whole numbers from -8 to 8",
                          given=f"dtype {codes.dtype}{span}", fix="pass the output of classify_emerging")
    return codes.astype(np.int64) + 8


def codes_to_names(codes: object) -> np.ndarray:
    """Convert pattern codes to ArcGIS display names ("New Hot Spot", ..., "No Pattern Detected").

    Parameters
    ----------
    codes : array-like of int, values -8..8

    Returns
    -------
    numpy.ndarray of object (str), same shape as ``codes``

    Examples
    --------
    >>> codes_to_names([1, -3, 0]).tolist()
    ['New Hot Spot', 'Intensifying Cold Spot', 'No Pattern Detected']
    """
    lookup = np.array([EMERGING_NAMES[c] for c in range(-8, 9)], dtype=object)
    return lookup[_check_codes(codes)]


def codes_to_keys(codes: object) -> np.ndarray:
    """Convert pattern codes to snake_case keys ("new_hot_spot", ..., "no_pattern").

    Parameters
    ----------
    codes : array-like of int, values -8..8

    Returns
    -------
    numpy.ndarray of object (str), same shape as ``codes``

    Examples
    --------
    >>> codes_to_keys([2, -8]).tolist()
    ['consecutive_hot_spot', 'historical_cold_spot']
    """
    lookup = np.array([EMERGING_CODES[c] for c in range(-8, 9)], dtype=object)
    return lookup[_check_codes(codes)]
