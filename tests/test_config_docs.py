"""docs/configuration.md covers every key maildesk/config/settings.py reads, with its
default and range (the helpers of tests/test_docs.py read the code)."""

from __future__ import annotations

import ast

from test_docs import (
    ROOT,
    _calls,
    _constant,
    _spans,
    _text,
    config_keys,
    config_table_mismatches,
)

REFERENCE = ROOT / "docs" / "configuration.md"
SETTINGS = "maildesk/config/settings.py"
# Keys only the loader refuses, with a hint to use their _env form.
REFUSED = {"password", "token", "client_secret", "refresh_token"}


def accepted_keys() -> set[str]:
    """Every key the loader accepts: the keys read (config_keys), the literal arguments of
    its `known(...)` checks and the SERVER_KEYS / STATION_KEYS lists they use."""
    keys = set(config_keys())
    for call in _calls(SETTINGS):
        if getattr(call.func, "attr", None) == "known":
            keys |= {a.value for a in call.args if isinstance(a, ast.Constant)}
    keys |= set(_constant(SETTINGS, "SERVER_KEYS")) | set(_constant(SETTINGS, "STATION_KEYS"))
    assert len(keys) > 40, "settings.py accepts far fewer keys than expected: update this test"
    return keys - REFUSED


def test_every_config_key_is_in_the_configuration_reference() -> None:
    spans = set(_spans(_text(REFERENCE)))
    missing = sorted(key for key in accepted_keys()
                     if key not in spans and f"{key}:" not in spans)
    assert not missing, f"docs/configuration.md does not document the keys: {missing}"


def test_defaults_and_ranges_match_the_configuration_reference() -> None:
    wrong = config_table_mismatches(_text(REFERENCE))
    assert not wrong, f"docs/configuration.md disagrees with settings.py: {wrong}"


def test_the_reference_knows_no_key_the_code_does_not_read() -> None:
    known = accepted_keys()
    documented = {line.split("|")[1].strip().strip("`") for line in _text(REFERENCE).splitlines()
                  if line.startswith("| `") and line.count("|") > 3}
    # Rows of the service level table name urgencies, which the code reads as URGENCIES.
    extra = sorted(documented - known - {"urgent", "semi_urgent", "non_urgent"}
                   - {v.strip("`") for v in documented if v.startswith("MAILDESK_")})
    assert not extra, f"docs/configuration.md documents keys settings.py never reads: {extra}"
