"""Evaluation protocol: seeded episodes, parallel workers, Wilson intervals, reports, videos, plots."""
