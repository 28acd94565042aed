"""`maildesk serve`: the DCP dashboard, the resident's status page and the public monthly
figures, over the same database as the daemon (read-only)."""
