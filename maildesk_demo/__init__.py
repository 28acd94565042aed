"""The `maildesk demo`: local mail servers on loopback and sample mails."""
