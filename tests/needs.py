"""A tool or package the tests need is missing: in CI that fails the test, elsewhere it skips.

The house rule in one place (COMMON: "in CI a missing tool fails, never skips"), so that no
test can turn into a silently skipped one on the CI machine.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing(message: str) -> NoReturn:
    """Stop the test because `message` names something not installed."""
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
