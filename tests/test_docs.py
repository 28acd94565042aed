"""The guides cannot drift from the code.

Everything here reads the source of truth at test time: the click group for commands and
options, the text of maildesk/config/settings.py for configuration keys, defaults and ranges, the
systemd unit, the templates, and maildesk.officer.commands (once it exists) for officer commands.
When one of these tests fails, update docs/admin-guide.md or docs/officer-guide.md.
"""

from __future__ import annotations

import ast
import importlib
import re
from functools import cache
from pathlib import Path

import click
import pytest

from maildesk.cli import main

ROOT = Path(__file__).resolve().parent.parent
ADMIN = ROOT / "docs" / "admin-guide.md"
OFFICER = ROOT / "docs" / "officer-guide.md"
README = ROOT / "README.md"
PACKAGE = ROOT / "maildesk"

# Methods of the YAML reader (maildesk/config/yamlfile.py, and settings.py's own getters) whose
# first argument is a key of the YAML.
READER_METHODS = ("str", "int", "bool", "address", "addresses", "duration", "secret", "child",
                  "items", "values")
# Officer commands as specified, used until maildesk/officer/commands.py exists.
OFFICER_COMMANDS = ("progress", "note", "incomplete", "close", "urgent", "semi", "routine",
                    "transfer", "forward", "assign", "duplicate")
ALIAS_HEADING = "## Command names in Hindi and Bengali"


# -- reading the docs -------------------------------------------------------------------------


@cache
def _text(path: Path) -> str:
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing"
    return path.read_text(encoding="utf-8")


def _flat(text: str) -> str:
    """The text with every run of whitespace as one space (prose wraps anywhere)."""
    return " ".join(text.split())


def _fences(text: str) -> list[str]:
    return re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def _without_fences(text: str) -> str:
    return re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)


def _spans(text: str) -> list[str]:
    """Inline code spans (`like this`), outside fenced blocks."""
    return re.findall(r"`([^`\n]+)`", _without_fences(text))


def _section(text: str, heading: str) -> str:
    """From the heading line to the next heading of the same or a higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    start = text.index(heading)
    rest = text[start + len(heading):]
    end = re.search(rf"^#{{1,{level}}} ", rest, flags=re.MULTILINE)
    return rest[: end.start()] if end else rest


def _rows(text: str, key: str) -> list[str]:
    """Table rows whose first cell names `key`."""
    return [line for line in text.splitlines()
            if line.startswith("|") and f"`{key}`" in line.split("|")[1]]


# -- reading the code ---------------------------------------------------------------------------


@cache
def _tree(relative: str) -> ast.Module:
    return ast.parse((ROOT / relative).read_text(encoding="utf-8"))


def _constant(relative: str, name: str) -> object:
    """The literal value assigned to a module-level name."""
    for node in _tree(relative).body:
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AnnAssign) else [])
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{relative} no longer defines {name}: update tests/test_docs.py")


def _calls(relative: str) -> list[ast.Call]:
    return [n for n in ast.walk(_tree(relative)) if isinstance(n, ast.Call)]


def _literal(node: ast.expr | None) -> object:
    return node.value if isinstance(node, ast.Constant) else None


def config_keys() -> dict[str, list[ast.Call]]:
    """Every YAML key settings.py reads: the literal first argument of a reader method call
    (`desk.str("timezone", ...)`) or of `<reader>.data.get("key", ...)`."""
    keys: dict[str, list[ast.Call]] = {}
    for call in _calls("maildesk/config/settings.py"):
        func = call.func
        if not isinstance(func, ast.Attribute) or not call.args:
            continue
        key = _literal(call.args[0])
        reads_yaml = func.attr in READER_METHODS or (
            func.attr == "get" and isinstance(func.value, ast.Attribute)
            and func.value.attr == "data")
        if reads_yaml and isinstance(key, str):
            keys.setdefault(key, []).append(call)
    assert len(keys) > 20, "config.py reads far fewer keys than expected: update this test"
    return keys


def _yaml(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _argument(call: ast.Call, position: int, name: str) -> ast.expr | None:
    if len(call.args) > position:
        return call.args[position]
    return next((k.value for k in call.keywords if k.arg == name), None)


def _timedelta_text(node: ast.expr, short: bool) -> str:
    """`timedelta(minutes=30)` as "30m" (short) or "30 minutes"."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == "timedelta" and len(node.keywords) == 1):
        raise AssertionError("expected timedelta(unit=N): update tests/test_docs.py")
    keyword = node.keywords[0]
    number = ast.literal_eval(keyword.value)
    unit = keyword.arg or ""
    if short:
        return f"{number}{unit[0]}"
    return f"{number} {unit.removesuffix('s') if number == 1 else unit}"


def source_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(PACKAGE.rglob("*.py")))


# -- the administrator's guide: commands ------------------------------------------------------


def test_every_command_is_in_the_admin_guide() -> None:
    text = _text(ADMIN)
    missing = [f"maildesk {name}" for name in main.commands if f"maildesk {name}" not in text]
    assert not missing, f"docs/admin-guide.md does not document: {', '.join(missing)}"


def test_every_option_is_in_the_admin_guide() -> None:
    text = _text(ADMIN)
    missing = []
    for command in (main, *main.commands.values()):
        for param in command.params:
            if isinstance(param, click.Option):
                long = [o for o in param.opts if o.startswith("--")] or param.opts
                missing += [f"{command.name} {o}" for o in long if o not in text]
    assert not missing, f"docs/admin-guide.md does not mention the options: {missing}"


def _invocations(text: str) -> list[tuple[str, str]]:
    """(command word, line) for every `maildesk WORD` the guide shows being run: in code
    spans and code blocks, wherever the program itself (`maildesk` at the start, or a path
    ending in bin/maildesk) is followed by a word."""
    takes_value = {o for p in main.params if isinstance(p, click.Option) and not p.is_flag
                   for o in p.opts}
    flags = {o for p in main.params if isinstance(p, click.Option) and p.is_flag
             for o in p.opts}
    lines = _spans(text) + [line for block in _fences(text) for line in block.splitlines()]
    found = []
    for line in lines:
        tokens = line.split()
        for i, token in enumerate(tokens):
            program = token.removeprefix("ExecStart=")
            if not (program.endswith("bin/maildesk") or (i == 0 and program == "maildesk")):
                continue
            rest = tokens[i + 1:]
            while rest and rest[0] in takes_value | flags:
                rest = rest[2:] if rest[0] in takes_value else rest[1:]
            if rest and re.fullmatch(r"[a-z]+", rest[0]):
                found.append((rest[0], line))
    return found


def test_the_admin_guide_shows_only_commands_that_exist() -> None:
    invocations = _invocations(_text(ADMIN))
    assert invocations, "found no `maildesk COMMAND` in docs/admin-guide.md"
    unknown = [line for word, line in invocations if word not in main.commands]
    assert not unknown, f"docs/admin-guide.md runs commands cli.py does not have: {unknown}"


# -- the administrator's guide: configuration --------------------------------------------------


def test_every_config_key_is_in_the_admin_guide() -> None:
    spans = set(_spans(_text(ADMIN)))
    missing = sorted(key for key in config_keys() if key not in spans and f"{key}:" not in spans)
    assert not missing, f"docs/admin-guide.md does not document the keys: {missing}"


def test_config_choices_are_in_the_admin_guide() -> None:
    spans = set(_spans(_text(ADMIN)))
    for name in ("SECURITY", "URGENCIES", "LANGUAGES"):
        values = _constant("maildesk/config/settings.py", name)
        missing = [v for v in values if v not in spans]  # type: ignore[attr-defined]
        assert not missing, f"docs/admin-guide.md does not name {name} values {missing}"


def config_table_mismatches(text: str) -> list[str]:
    """Each default and range in settings.py that the tables of `text` do not show."""
    wrong = []
    for key, calls in config_keys().items():
        rows = _rows(text, key)
        for call in calls:
            method = call.func.attr  # type: ignore[attr-defined]
            # items(key, required) and child(key, default) take no default worth showing.
            default = _literal(_argument(call, 1, "default"))
            if method in ("str", "int", "bool", "get") and default not in (None, ""):
                if not any(f"`{_yaml(default)}`" in row for row in rows):
                    wrong.append(f"{key}: default `{_yaml(default)}`")
            if method == "int":
                low, high = (_literal(_argument(call, i, n)) for i, n in ((2, "low"),
                                                                            (3, "high")))
                if not any(f"{low} to {high}" in row for row in rows):
                    wrong.append(f"{key}: range {low} to {high}")
    return wrong


def test_config_defaults_and_ranges_match_the_admin_guide() -> None:
    wrong = config_table_mismatches(_text(ADMIN))
    assert not wrong, f"docs/admin-guide.md tables disagree with config.py: {wrong}"


def test_default_ports_are_in_the_admin_guide() -> None:
    rows = " ".join(_rows(_text(ADMIN), "port"))
    for name in ("IMAP_PORTS", "SMTP_PORTS"):
        ports = _constant("maildesk/config/settings.py", name)
        missing = [f"{port} for `{sec}`" for sec, port in ports.items()  # type: ignore[attr-defined]
                   if str(port) not in rows]
        assert not missing, f"the `port` row of docs/admin-guide.md lacks {name}: {missing}"


def test_default_service_levels_are_in_the_admin_guide() -> None:
    text = _text(ADMIN)
    for node in _tree("maildesk/config/settings.py").body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == \
                "DEFAULT_SERVICE_LEVELS":
            levels = node.value
            break
    else:
        raise AssertionError("config.py no longer defines DEFAULT_SERVICE_LEVELS")
    assert isinstance(levels, ast.Dict)
    for key, value in zip(levels.keys, levels.values, strict=True):
        urgency = _literal(key)
        assert isinstance(value, ast.Call)
        durations = [_timedelta_text(arg, short=True) for arg in value.args]
        cells = [row.split("|")[2 : 2 + len(durations)] for row in _rows(text, str(urgency))]
        assert any([c.strip() for c in cell] == durations for cell in cells), (
            f"docs/admin-guide.md: service levels of {urgency} should read {durations}")


def test_environment_variables_are_in_the_admin_guide() -> None:
    spans = set(_spans(_text(ADMIN)))
    names = set(re.findall(r"\bget\(\s*\"(MAILDESK_[A-Z_]+)\"", source_text()))
    example = (ROOT / "systemd" / "maildesk.env.example").read_text(encoding="utf-8")
    names |= set(re.findall(r"^(MAILDESK_[A-Z_]+)=", example, flags=re.MULTILINE))
    assert names, "found no MAILDESK_ environment variables: update this test"
    missing = sorted(names - spans)
    assert not missing, f"docs/admin-guide.md does not document: {missing}"


# -- the administrator's guide: service, data, failures ----------------------------------------


def test_the_systemd_unit_matches_the_admin_guide() -> None:
    text = _text(ADMIN)
    unit = (ROOT / "systemd" / "maildesk.service").read_text(encoding="utf-8")
    for setting in ("ExecStart", "EnvironmentFile", "StateDirectory"):
        match = re.search(rf"^{setting}=(.+)$", unit, flags=re.MULTILINE)
        assert match, f"systemd/maildesk.service has no {setting}=: update this test"
        assert match.group(1).strip() in text, (
            f"docs/admin-guide.md should show {setting}={match.group(1).strip()}")
    stop = re.search(r"^TimeoutStopSec=(\d+)$", unit, flags=re.MULTILINE)
    assert stop and f"{stop.group(1)} seconds" in _flat(text)


def test_the_data_layout_is_in_the_admin_guide() -> None:
    text = _text(ADMIN)
    store = (PACKAGE / "store" / "db.py").read_text(encoding="utf-8")
    database = re.findall(r"\"([\w-]+\.db)\"", store)
    folders = re.findall(r"kind: str = \"(\w+)\"", store)
    folders += re.findall(r"blob_path\([^)]*\"(\w+)\"\)", store)
    assert database and len(folders) >= 2, "store.py changed its layout: update this test"
    missing = [d for d in database if f"`{d}`" not in text and f"  {d} " not in text]
    missing += [f"{f}/" for f in folders if f"{f}/" not in text]
    assert not missing, f"docs/admin-guide.md does not show: {missing}"


def test_retry_and_backoff_times_match_the_admin_guide() -> None:
    text = _flat(_text(ADMIN))
    wanted = {"maildesk/mail/send.py": ("FIRST_RETRY", "LONGEST_RETRY", "GIVE_UP_AFTER"),
              "maildesk/intake/watcher.py": ("LONGEST_BACKOFF",)}
    for relative, names in wanted.items():
        for node in _tree(relative).body:
            name = getattr(node.targets[0], "id", "") if isinstance(node, ast.Assign) else ""
            if name in names:
                phrase = _timedelta_text(node.value, short=False)
                assert phrase in text, f"docs/admin-guide.md should say {phrase} ({name})"


def test_the_log_lines_in_the_admin_guide_exist() -> None:
    logs = _section(_text(ADMIN), "### Logs")
    phrases = [line.split("|")[1].strip().strip("`") for line in logs.splitlines()
               if line.startswith("| `")]
    assert len(phrases) > 5, "the Logs section lost its table"
    source = source_text()
    gone = [p for p in phrases if p not in source]
    assert not gone, f"docs/admin-guide.md quotes log text the code no longer logs: {gone}"


def test_every_kind_of_mail_is_explained_in_the_admin_guide() -> None:
    text = _text(ADMIN)
    kinds = _constant("maildesk/sorting/rules.py", "KINDS")
    missing = [k for k in (*kinds, "shunted") if not _rows(text, k)]  # type: ignore[misc]
    assert not missing, f"docs/admin-guide.md does not explain the mail kinds {missing}"


# -- the officer's guide ----------------------------------------------------------------------


def officer_commands() -> tuple[set[str], set[str]]:
    """(canonical names, other aliases): from maildesk.officer.commands.COMMANDS (alias ->
    canonical) once it exists, else the commands as specified."""
    try:
        module = importlib.import_module("maildesk.officer.commands")
    except ModuleNotFoundError as exc:
        if exc.name != "maildesk.officer.commands":
            raise
        return set(OFFICER_COMMANDS), set()
    commands = module.COMMANDS
    canonical = {str(v).lstrip("#").lower() for v in commands.values()}
    aliases = {str(k).lstrip("#") for k in commands}
    return canonical, aliases - canonical


def test_every_officer_command_is_in_the_officer_guide() -> None:
    text = _text(OFFICER)
    canonical, _ = officer_commands()
    missing = sorted(c for c in canonical if not re.search(rf"#{re.escape(c)}\b", text))
    assert not missing, f"docs/officer-guide.md does not explain: {missing}"


def test_the_officer_guide_lists_the_hindi_and_bengali_names() -> None:
    text = _text(OFFICER)
    assert ALIAS_HEADING in text, f"docs/officer-guide.md needs the section {ALIAS_HEADING!r}"
    table = _section(text, ALIAS_HEADING)
    canonical, aliases = officer_commands()
    missing = sorted(name for name in canonical | aliases if name not in table)
    assert not missing, f"the table in {ALIAS_HEADING!r} lacks: {missing}"


def test_the_officer_guide_shows_the_subject_tags() -> None:
    text = _text(OFFICER)
    subject = (ROOT / "templates" / "en" / "notify.txt").read_text(encoding="utf-8")
    subject = subject.splitlines()[0]
    tags = re.findall(r"\"([A-Z][A-Z-]+)\"", subject)
    assert tags, "templates/en/notify.txt: no urgency tags in the subject: update this test"
    missing = [f"[{tag}]" for tag in tags if f"[{tag}]" not in text]
    assert not missing, f"docs/officer-guide.md does not show the subject tags {missing}"


# -- the README ---------------------------------------------------------------------------------


def test_the_readme_points_to_the_guides() -> None:
    if not README.is_file():
        pytest.skip("no README.md yet")
    text = README.read_text(encoding="utf-8")
    missing = [d for d in ("docs/admin-guide.md", "docs/officer-guide.md") if d not in text]
    assert not missing, f"README.md should link {missing}"
