"""Detect: alerts from monitoring systems, normalised, routed and grouped into incidents."""
