"""Seeded simulator of police.uk and retailer data with planted hotspots and their ground truth.

>>> from harmmap.simulate import simulate
>>> summary = simulate("sim", seed=7, months=12, incidents_per_month=5_000)  # doctest: +SKIP

``python -m harmmap.simulate.boundaries`` regenerates the committed town-centre
polygons (``data/boundaries/simulated_town_centres.geojson``).
"""

from __future__ import annotations

__all__ = ["SimulationSummary", "simulate"]


def __getattr__(name: str):
    # Imported lazily so ``python -m harmmap.simulate.boundaries`` does not load the module twice.
    if name in __all__:
        from harmmap.simulate import write

        return getattr(write, name)
    raise AttributeError(f"module 'harmmap.simulate' has no attribute {name!r}")
