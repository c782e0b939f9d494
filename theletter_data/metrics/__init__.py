"""Metrics layer: per-newsletter, per-post and platform-wide tables behind the dashboards."""
