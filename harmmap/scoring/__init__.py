"""Pure statistics on incidents: harm weights, aggregation, hotspot statistics and trends.

Modules here take arrays and DataFrames and return new objects; they never
read files, touch Flask or folium, or use global random state (``seed=`` is
explicit).  ``tests/test_layers.py`` enforces this.
"""
