"""Flow-matching math, written once (see `flow_matching.py` for the time convention)."""
