"""Policies seen from the outside: raw observation dict in, robot-unit actions out."""
