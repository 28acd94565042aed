"""The few exception types maildesk raises, each saying what to do about it."""


class ConfigError(Exception):
    """The configuration is wrong: stop at start and tell the administrator how to fix it."""


class TemporaryError(Exception):
    """Something outside is not available right now (server down, 4xx): retry later."""


class PermanentError(Exception):
    """Something outside refused for good (5xx, bad login): report it, do not retry blindly."""
