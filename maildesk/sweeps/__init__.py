"""Sweeps: service levels, escalations and mailbox incidents, found by a periodic sweep."""
