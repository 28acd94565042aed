"""Intake: each station's mailbox over IMAP, one pass or IDLE, never losing a mail."""
