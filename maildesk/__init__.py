"""maildesk: every police station's email address as an accountable complaint desk."""

__version__ = "0.1.0"
