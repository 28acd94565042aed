"""Labelled triage cases (dev and held-out parts) and the figures computed on them."""
