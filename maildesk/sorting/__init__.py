"""Sorting: what a mail is (the rules, in order) and how each kind is recorded."""
