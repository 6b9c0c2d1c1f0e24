"""Which place(s) each incident falls in.

Assignments are computed from the incidents' grid coordinates and the stored
places whenever they are read, so importing places before or after incidents
gives the same answer and nothing can go stale.  The join
(:func:`harmmap.geo.join.points_to_places`) bins points on a grid over the
places and tests exactly only those near an outline: ~2 s for 10M points.
"""

from __future__ import annotations

import pandas as pd

from harmmap.geo.join import points_to_places
from harmmap.store.places import load_places
from harmmap.store.workspace import Workspace, read_meta


def place_tolerance(ws: Workspace) -> float:
    """Return the workspace's snap tolerance in metres (``places import --tolerance``)."""
    return float(read_meta(ws, "place_tolerance_m") or 0.0)


def incidents_to_places(ws: Workspace, incidents: pd.DataFrame, kinds: list[str] | None = None,
                        tolerance_m: float | None = None) -> pd.DataFrame:
    """Return one row per (incident, place containing it): columns ``incident_id``, ``place_id``.

    Parameters
    ----------
    incidents : pandas.DataFrame
        Needs ``incident_id``, ``easting`` and ``northing``.
    kinds : list of str, optional
        Place kinds to use (all by default).
    tolerance_m : float, optional
        Snap distance for points just outside every place (workspace setting by default).
    """
    places = load_places(ws, kinds)
    tolerance = place_tolerance(ws) if tolerance_m is None else tolerance_m
    if places.empty or incidents.empty:
        return pd.DataFrame({"incident_id": pd.Series([], dtype="int64"), "place_id": pd.Series([], dtype="str")})
    hits = points_to_places(incidents["easting"].to_numpy(float), incidents["northing"].to_numpy(float),
                            places, tolerance_m=tolerance)
    return pd.DataFrame({
        "incident_id": incidents["incident_id"].to_numpy()[hits["point_index"].to_numpy()],
        "place_id": hits["place_id"].to_numpy(),
    })
