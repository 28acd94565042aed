"""Configuration errors name the file, the line, the key and the fix."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from maildesk.config.settings import load_config
from maildesk.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
ENV = {name: "secret" for name in ("BEHALA_PASSWORD", "LAKETOWN_PASSWORD", "BAGUIHATI_PASSWORD",
                                   "DUMDUM_PASSWORD", "TILAKNAGAR_PASSWORD",
                                   "CHARKOP_PASSWORD")}


def example(tmp_path: Path, change: tuple[str, str] | None = None) -> Path:
    shutil.copy(REPO / "config" / "rules.yaml", tmp_path / "rules.yaml")
    text = (REPO / "config" / "stations.yaml").read_text(encoding="utf-8")
    if change:
        assert change[0] in text, change[0]
        text = text.replace(change[0], change[1], 1)
    path = tmp_path / "stations.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def line_of(path: Path, fragment: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if fragment in line)


def test_the_worked_example_loads(tmp_path):
    config = load_config(example(tmp_path), env=ENV)
    assert [s.code for s in config.stations] == ["BHL", "LKT", "BGH", "DMD", "TLN", "CHK"]
    assert {z.code for z in config.zones} == {"KOL-NE", "MUM-Z6"}
    assert config.station("BHL").imap.security == "tls"  # TLS unless a station says otherwise
    assert config.station("BHL").imap.password == "secret"
    assert "secret" not in repr(config.station("BHL"))  # secrets stay out of logs


@pytest.mark.parametrize(("change", "fragment", "words"), [
    (("    zone: KOL-NE\n    address: behala", "    zone: KOL-X\n    address: behala"),
     "zone: KOL-X", "unknown zone 'KOL-X'"),
    (("max_mail_mb: 25", "max_mail_mb: lots"), "max_mail_mb", "whole number"),
    (("security: tls ", "security: ssl "), "security: ssl", "not one of: tls, starttls, plain"),
    (("  idle: true", "  idel: true"), "idel", "did you mean 'idle'"),
    (("password_env: BEHALA_PASSWORD}", "password: hunter2}"), "password: hunter2",
     "secrets do not belong in the YAML"),
    (("closure: 1d, dcp_after", "closure: one day, dcp_after"), "closure: one day",
     "duration like 30m"),
])
def test_a_mistake_is_named_with_file_line_and_fix(tmp_path, change, fragment, words):
    path = example(tmp_path, change)
    with pytest.raises(ConfigError) as error:
        load_config(path, env=ENV)
    message = str(error.value)
    assert message.startswith(f"{path}:{line_of(path, fragment)}:"), message
    assert words in message


def test_a_missing_password_variable_is_named(tmp_path):
    env = {k: v for k, v in ENV.items() if k != "DUMDUM_PASSWORD"}
    with pytest.raises(ConfigError, match="DUMDUM_PASSWORD is not set"):
        load_config(example(tmp_path), env=env)
    assert load_config(example(tmp_path), env=env, secrets=False)  # fine for a dry run


def test_broken_yaml_names_the_line(tmp_path):
    path = example(tmp_path, ("zones:\n", "zones: [\n"))
    with pytest.raises(ConfigError, match=r"stations\.yaml:\d+: not valid YAML"):
        load_config(path, env=ENV)


def test_a_reload_takes_a_changed_password_from_dotenv(tmp_path, monkeypatch):
    path = example(tmp_path)
    for name in ENV:
        monkeypatch.setenv(name, "old")
    monkeypatch.setenv("MAILDESK_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / ".env").write_text("BEHALA_PASSWORD=new\n")
    assert load_config(path).station("BHL").imap.password == "old"  # the environment wins
    assert load_config(path, reload=True).station("BHL").imap.password == "new"


def test_a_misspelt_key_is_named_in_full_with_the_nearest_known_one(tmp_path):
    """The whole message, as docs/configuration.md shows it: file:line: where.key: why; hint."""
    path = example(tmp_path, ("  poll_seconds:", "  pol_seconds:"))
    with pytest.raises(ConfigError) as error:
        load_config(path, env=ENV)
    assert str(error.value) == (f"{path}:{line_of(path, 'pol_seconds')}: defaults.pol_seconds: "
                                "unknown setting; did you mean 'poll_seconds'?")


def test_a_mistake_inside_a_list_names_its_entry(tmp_path):
    path = example(tmp_path, ("    zone: KOL-NE\n    address: behala",
                              "    zone: KOL-NE\n    adress: behala"))
    with pytest.raises(ConfigError) as error:
        load_config(path, env=ENV)
    assert str(error.value).startswith(f"{path}:{line_of(path, 'adress: behala')}: "
                                       "stations[0].adress: unknown setting;"), error.value
