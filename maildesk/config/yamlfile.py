"""The one YAML reader of maildesk: it remembers where each value stood, so every error can
name the file and the line.

This is the only module that imports PyYAML.  `load_yaml` parses a file; `YamlReader` walks
what it parsed.  Both the configuration (maildesk/config/settings.py: `YamlReader.walk` over
stations.yaml, with typed getters that name `where.key`) and the triage policy
(maildesk/triage/phrases.py: the file-level checks `fail`, `line_of`, `mapping`, `number`)
read through it.
"""

from __future__ import annotations

import difflib
import re
from datetime import timedelta
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


_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class YamlReader:
    """One mapping of a parsed YAML file (`data`, found at `where`, on `line`) and the checks
    that name file and line when they fail.

    Two ways of reading share it.  The file-level checks (`fail`, `line_of`, `mapping`,
    `number`) take any node and return or raise a ConfigError.  The walker (`walk`, `child`,
    `items` and the typed getters `str`, `int`, `bool`, `duration`, ...) reads keys of `data`
    and says `where.key` in its errors; `known` refuses keys nobody reads.  A file with
    constructs of its own (phrase lists, mail addresses, secrets) subclasses it; `child` and
    `items` keep the subclass.
    """

    def __init__(self, path: Path, data: Any = None, where: str = "", line: int = 0) -> None:
        self.path, self.where = path, where
        self.data: dict = data if isinstance(data, dict) else {}
        self.line = getattr(data, "line", line)

    # -- file-level checks --------------------------------------------------------------------

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

    # -- walking a mapping --------------------------------------------------------------------

    @classmethod
    def walk(cls, path: Path, data: Any, where: str = "", line: int = 0) -> YamlReader:
        """A reader of `data`, which must be a mapping."""
        reader = cls(path, data, where, line)
        if not isinstance(data, dict):
            raise reader.error(
                f"expected a mapping (key: value lines), got {type(data).__name__}")
        return reader

    def error(self, message: str, key: str | None = None) -> ConfigError:
        """`path:line: where.key: message`, at the line of `key` when it is written."""
        line = self.line_of(self.data, key) if key is not None else None
        name = f"{self.where}.{key}" if key and self.where else (key or self.where or "top level")
        return ConfigError(f"{self.path}:{line or self.line}: {name}: {message}")

    def _name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def child(self, key: str, default: Any = None) -> YamlReader:
        value = self.data.get(key, default if default is not None else {})
        line = getattr(self.data, "lines", {}).get(key, self.line)
        return type(self).walk(self.path, value, self._name(key), line)

    def items(self, key: str, required: bool = False) -> list[YamlReader]:
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.error("is missing: add a list of entries", key)
            return []
        if not isinstance(value, list):
            raise self.error("expected a list (lines starting with '- ')", key)
        lines = getattr(value, "lines", [self.line] * len(value))
        return [type(self).walk(self.path, v, f"{self._name(key)}[{i}]", lines[i])
                for i, v in enumerate(value)]

    def values(self, key: str, example: str) -> list:
        """A list of plain values (`example` shows one in the error)."""
        value = self.data.get(key) or []
        if not isinstance(value, list):
            raise self.error(f"expected a list, like {example}", key)
        return value

    def str(self, key: str, default: str | None = None, choices: tuple[str, ...] = ()) -> str:
        value = self.data.get(key, default)
        if value is None:
            raise self.error(f"is missing: add '{key}: ...'", key)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.error(f"expected text, got {type(value).__name__}", key)
        value = str(value).strip()
        if choices and value not in choices:
            raise self.error(f"'{value}' is not one of: {', '.join(choices)}", key)
        return value

    def int(self, key: str, default: int, low: int, high: int) -> int:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.error(f"expected a whole number from {low} to {high}, got {value!r}",
                             key)
        return value

    def bool(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self.error(f"expected true or false, got {value!r}", key)
        return value

    def duration(self, key: str, default: timedelta) -> timedelta:
        value = self.data.get(key)
        if value is None:
            return default
        match = _DURATION.match(str(value))
        if not match:
            raise self.error(f"expected a duration like 30m, 4h or 2d, got {value!r}", key)
        return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})

    def known(self, *keys: str) -> YamlReader:
        """Refuse keys nobody reads: a misspelt key would otherwise be silently ignored."""
        for key in self.data:
            if key not in keys:
                close = difflib.get_close_matches(str(key), keys, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(keys)}"
                raise self.error(f"unknown setting; {hint}", key)
        return self

