"""The store: the one place that talks to SQLite, and the raw files beside it."""
