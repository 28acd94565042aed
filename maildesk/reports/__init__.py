"""Reports: the morning digest, the monthly figures and the command line's views."""
