"""Datasets, sampling and per-embodiment normalization statistics."""
