"""YAML reading that remembers where each value stood, so errors can name the line.

This is the only module that imports PyYAML.  `load_yaml` parses a file; `YamlChecks` holds
the checks every reader of a maildesk YAML file needs (a mapping where one is due, a number
within bounds), each failing with a ConfigError that names file and line.  The triage policy
reader (maildesk/triage/phrases.py) builds on it; the settings reader
(maildesk/config/settings.py) still has its own walker and could move onto it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from maildesk.errors import ConfigError


class LineDict(dict):
    """A mapping from YAML that knows the line of each of its keys (1-based)."""

    lines: dict[Any, int]
    line: int


class LineList(list):
    lines: list[int]
    line: int


class _Loader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LineDict:
        mapping = LineDict(super().construct_mapping(node, deep=True))
        mapping.lines = {
            self.construct_object(key, deep=True): key.start_mark.line + 1 for key, _ in node.value
        }
        mapping.line = node.start_mark.line + 1
        return mapping

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> LineList:
        items = LineList(super().construct_sequence(node, deep=True))
        items.lines = [item.start_mark.line + 1 for item in node.value]
        items.line = node.start_mark.line + 1
        return items


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _Loader.construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _Loader.construct_sequence)


def load_yaml(path: Path) -> Any:
    """Parse a YAML file; a syntax error becomes a ConfigError naming file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: the file is not UTF-8 text ({exc.reason})") from exc
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: not valid YAML: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc


class YamlChecks:
    """Checks on parsed YAML (LineDict / LineList) that name file and line when they fail."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, line: int | str | None, message: str) -> ConfigError:
        return ConfigError(f"{self.path}:{line if line else '?'}: {message}")

    @staticmethod
    def line_of(node: Any, key: Any = None, index: int | None = None) -> int | None:
        """The line of `node`, of its `key`, or of its item number `index`."""
        if index is not None:
            lines = getattr(node, "lines", None)
            return lines[index] if lines and index < len(lines) else getattr(node, "line", None)
        if key is not None:
            lines = getattr(node, "lines", None)
            if isinstance(lines, dict) and key in lines:
                return lines[key]
        return getattr(node, "line", None)

    def mapping(self, node: Any, where: str, line: int | None) -> dict:
        if node is None:
            return {}
        if not isinstance(node, dict):
            raise self.fail(line, f"{where} must be a mapping (key: value lines)")
        return node

    def number(self, node: dict, key: str, default: float, where: str,
               low: float = 0.0, high: float = 1e9) -> float:
        if key not in node:
            return default
        value = node[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(self.line_of(node, key), f"{where}.{key} must be a number")
        if not low <= value <= high:
            raise self.fail(self.line_of(node, key),
                            f"{where}.{key} must be between {low:g} and {high:g}")
        return float(value)
