"""The six-monthly assessment report: data model, SVG maps and charts, HTML, PDF via chromium."""

from harmmap.report.model import Assessment, Boundary, MapLayer, ReportTable, Section, Series
from harmmap.report.render import render_assessment

__all__ = ["Assessment", "Boundary", "MapLayer", "ReportTable", "Section", "Series", "render_assessment"]
