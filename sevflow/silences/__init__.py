"""Silences and maintenance windows made at runtime: Alertmanager matchers, the silence model and what
an alert batch becomes under the active silences (all pure)."""
