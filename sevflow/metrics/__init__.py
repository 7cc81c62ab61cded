"""Incident metrics (docs/ARCHITECTURE.md, "Metrics"): computed in SQL over the store, drills left out."""

from sevflow.metrics.models import MetricsReport
from sevflow.metrics.queries import compute_metrics, metrics_since

__all__ = ["MetricsReport", "compute_metrics", "metrics_since"]
