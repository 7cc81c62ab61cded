"""Charts as text: inline SVG for the dashboard (pure: no I/O, no clock, every label escaped)."""

from sevflow.charts.svg import BarChart, LineChart, Series, duration_unit, nice_ticks

__all__ = ["BarChart", "LineChart", "Series", "duration_unit", "nice_ticks"]
