"""Colour-blind-safe palettes for maps and charts (fill a :class:`MapLayer` with these).

* Emerging hot-spot classes: eight reds for the hot classes and eight blues for
  their cold mirrors, ordered from most to least urgent (ColorBrewer "Reds" and
  "Blues", Brewer 2003), with light grey for "No Pattern Detected".  Red against
  blue stays distinct for the common red-green colour-vision deficiencies; within
  one hue the classes differ by lightness only, so always print the legend and
  the class table beside the map.
* Gi* bins: ColorBrewer "RdBu" 7 classes, as ArcGIS's hot/cold 99/95/90 % legend.
* Harm: ColorBrewer "YlOrRd" (sequential, light = low), safe for colour-blind
  readers and in greyscale print.
* Lines: Okabe & Ito (2008) "Color Universal Design" colours, each line also with
  its own dash pattern.
"""

from __future__ import annotations

from types import MappingProxyType

from harmmap.errors import ConfigError

EMERGING_HOT = (
    "Intensifying Hot Spot", "Persistent Hot Spot", "Consecutive Hot Spot", "New Hot Spot",
    "Sporadic Hot Spot", "Oscillating Hot Spot", "Diminishing Hot Spot", "Historical Hot Spot",
)
EMERGING_COLD = tuple(name.replace("Hot Spot", "Cold Spot") for name in EMERGING_HOT)
NO_PATTERN = "No Pattern Detected"
EMERGING_ORDER: tuple[str, ...] = EMERGING_HOT + EMERGING_COLD + (NO_PATTERN,)

_REDS = ("#67000d", "#a50f15", "#cb181d", "#ef3b2c", "#fb6a4a", "#fc9272", "#fcbba1", "#fee0d2")
_BLUES = ("#08306b", "#08519c", "#2171b5", "#4292c6", "#6baed6", "#9ecae1", "#c6dbef", "#deebf7")
EMERGING_PALETTE = MappingProxyType(
    dict(zip(EMERGING_HOT, _REDS)) | dict(zip(EMERGING_COLD, _BLUES)) | {NO_PATTERN: "#e5e5e5"}
)

GI_BIN_LABELS = MappingProxyType({
    3: "Hot spot, 99 % confidence", 2: "Hot spot, 95 % confidence", 1: "Hot spot, 90 % confidence",
    0: "Not significant",
    -1: "Cold spot, 90 % confidence", -2: "Cold spot, 95 % confidence", -3: "Cold spot, 99 % confidence",
})
GI_ORDER: tuple[str, ...] = tuple(GI_BIN_LABELS[b] for b in (3, 2, 1, 0, -1, -2, -3))
GI_PALETTE = MappingProxyType(dict(zip(
    GI_ORDER, ("#b2182b", "#ef8a62", "#fddbc7", "#e5e5e5", "#d1e5f0", "#67a9cf", "#2166ac"))))

_YLORRD = ("#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#bd0026",
           "#800026")

LINE_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
LINE_DASHES = ("", "6 3", "2 3", "8 3 2 3", "1 2", "10 4", "4 4")


def sequential_palette(labels: tuple[str, ...]) -> dict[str, str]:
    """Return YlOrRd colours for ordered class labels, lowest first (2 to 9 labels).

    Parameters
    ----------
    labels : tuple of str
        Class labels from lowest to highest (e.g. harm quintiles).

    Returns
    -------
    dict of str to str
        Label to ``#rrggbb`` colour.
    """
    if not 2 <= len(labels) <= len(_YLORRD):
        raise ConfigError("a sequential palette needs 2 to 9 classes", given=len(labels),
                          fix="group the values into at most 9 classes (e.g. quintiles)")
    start = 1 if len(labels) <= 5 else 0  # skip the palest yellow when there is room: it vanishes on white
    last = len(_YLORRD) - 1
    picks = [round(start + i * (last - start) / (len(labels) - 1)) for i in range(len(labels))]
    return {label: _YLORRD[i] for label, i in zip(labels, picks)}
