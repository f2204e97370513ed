"""Simulator adapters (one interface), scripted experts, collection and evaluation."""
