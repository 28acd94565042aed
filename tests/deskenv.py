"""Build a maildesk configuration pointing at the test servers, and small mail helpers."""

from __future__ import annotations

import email
import email.policy
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from maildesk.config import Config, load_config

REPO = Path(__file__).resolve().parent.parent
MAIL = Path(__file__).resolve().parent / "mail"


@dataclass(frozen=True)
class StationAccount:
    code: str
    user: str  # IMAP login
    password: str
    officers: tuple[str, ...] = ()
    language: str = "en"

    @property
    def address(self) -> str:
        return f"{self.code.lower()}.ps@maildesk.test"


def write_config(directory: Path, imap: tuple[str, int], smtp: tuple[str, int],
                 stations: list[StationAccount], **desk: object) -> tuple[Path, dict[str, str]]:
    """Write stations.yaml (+ rules.yaml) into `directory`; returns (path, environment)."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "config" / "rules.yaml", directory / "rules.yaml")
    env = {f"{s.code}_PASSWORD": s.password for s in stations}
    data = {
        "maildesk": {"data_dir": str(directory / "data"), "message_domain": "maildesk.test",
                     "admins": ["itcell@maildesk.test"], **desk},
        "defaults": {"poll_seconds": 5,
                     "imap": {"host": imap[0], "port": imap[1], "security": "plain"},
                     "smtp": {"host": smtp[0], "port": smtp[1], "security": "plain"}},
        "zones": [{"code": "KOL-NE", "name": "Kolkata North and East",
                   "dcp": ["dcp.ne@maildesk.test"]}],
        "stations": [
            {"code": s.code, "name": f"{s.code} Police Station", "zone": "KOL-NE",
             "address": s.address, "language": s.language,
             "officers": [{"name": f"SI {o}", "address": o} for o in s.officers],
             "imap": {"user": s.user, "password_env": f"{s.code}_PASSWORD"},
             "smtp": {}}
            for s in stations
        ],
    }
    path = directory / "stations.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    (directory / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    return path, env


def config_for(directory: Path, imap: tuple[str, int], smtp: tuple[str, int],
               stations: list[StationAccount], **desk: object) -> Config:
    path, env = write_config(directory, imap, smtp, stations, **desk)
    return load_config(path, env=env)


def fixture(name: str) -> bytes:
    return (MAIL / name).read_bytes()


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def resident_mail(sender: str, to: str, subject: str, body: str, message_id: str,
                  extra: str = "") -> bytes:
    """A plain UTF-8 mail as a resident's client would send it."""
    msg = email.message.EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{message_id}>"
    msg["Date"] = "Mon, 23 Nov 2026 10:00:00 +0530"
    for line in filter(None, extra.splitlines()):
        name, value = line.split(":", 1)
        msg[name] = value.strip()
    msg.set_content(body)
    return msg.as_bytes()
