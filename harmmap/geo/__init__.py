"""Coordinates, H3 cells, place joins and grids."""
