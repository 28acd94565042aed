"""Build a maildesk configuration pointing at the test servers, and small mail helpers."""

from __future__ import annotations

import base64
import email
import email.policy
import shutil
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from maildesk.config.settings import (
    DEFAULT_SERVICE_LEVELS,
    Config,
    Officer,
    Server,
    Station,
    Zone,
    load_config,
)

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
                 stations: list[StationAccount], authserv: str = "",
                 **desk: object) -> tuple[Path, dict[str, str]]:
    """Write stations.yaml (+ rules.yaml) into `directory`; returns (path, environment).
    Officers' mail needs a pass from the server named `authserv`; without one the test
    servers vouch for nobody, so authentication is switched off explicitly."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "config" / "rules.yaml", directory / "rules.yaml")
    env = {f"{s.code}_PASSWORD": s.password for s in stations}
    data = {
        "maildesk": {"data_dir": str(directory / "data"), "message_domain": "maildesk.test",
                     "admins": ["itcell@maildesk.test"], **desk},
        "defaults": {"poll_seconds": 5, "require_authentication": bool(authserv),
                     **({"trusted_authserv_id": authserv} if authserv else {}),
                     "imap": {"host": imap[0], "port": imap[1], "security": "plain"},
                     "smtp": {"host": smtp[0], "port": smtp[1], "security": "plain"}},
        "zones": [{"code": "KOL-NE", "name": "Kolkata North and East",
                   "dcp": ["dcp.ne@maildesk.test"]}],
        "agencies": [{"code": "KMC", "name": "Kolkata Municipal Corporation",
                      "address": "grievance@kmc.test"}],
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
               stations: list[StationAccount], authserv: str = "", **desk: object) -> Config:
    path, env = write_config(directory, imap, smtp, stations, authserv, **desk)
    return load_config(path, env=env)


def fixture(name: str) -> bytes:
    return (MAIL / name).read_bytes()


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def encoded_words(text: str, chars: int = 12) -> str:
    """RFC 2047 words of a few characters each, spaces kept inside the words, as careful
    clients write long non-ASCII subjects (built by hand: the stdlib's folding loses spaces)."""
    if text.isascii():
        return text
    words = [text[i : i + chars] for i in range(0, len(text), chars)]
    return "\r\n ".join(
        f"=?utf-8?b?{base64.b64encode(w.encode()).decode()}?=" for w in words
    )


def resident_mail(sender: str, to: str, subject: str, body: str, message_id: str,
                  extra: str = "") -> bytes:
    """A plain UTF-8 mail as a resident's client would send it."""
    headers = [f"From: {sender}", f"To: {to}", f"Subject: {encoded_words(subject)}",
               f"Message-ID: <{message_id}>", "Date: Mon, 23 Nov 2026 10:00:00 +0530",
               *filter(None, extra.splitlines()), "MIME-Version: 1.0",
               "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: base64"]
    payload = base64.encodebytes(body.encode()).decode().replace("\n", "\r\n")
    return ("\r\n".join(headers) + "\r\n\r\n" + payload).encode()


def figures_station(code: str, name: str, zone: str) -> Station:
    """A station for tests that need no server (digests, reports)."""
    server = Server("127.0.0.1", 25, "plain", "", "")
    return Station(code=code, name=name, zone=zone, address=f"{code.lower()}.ps@maildesk.test",
                   language="en", officers=(Officer("SI Roy", f"si.{code.lower()}@maildesk.test"),),
                   imap=server, smtp=server)


def figures_config(directory: Path, bhl_name: str = "Behala Police Station") -> Config:
    """Two Kolkata stations and one Mumbai station, built directly (no YAML, no rules)."""
    return Config(
        path=directory / "stations.yaml", data_dir=directory / "data",
        timezone=ZoneInfo("Asia/Kolkata"), message_domain="maildesk.test",
        admins=("itcell@maildesk.test",),
        stations=(figures_station("BHL", bhl_name, "KOL-NE"),
                  figures_station("LKT", "Lake Town Police Station", "KOL-NE"),
                  figures_station("AND", "Andheri Police Station", "MUM-Z6")),
        zones=(Zone("KOL-NE", "Kolkata North and East", ("dcp.ne@maildesk.test",)),
               Zone("MUM-Z6", "Mumbai Zone 6", ("dcp.z6@maildesk.test",))),
        agencies=(), service_levels=dict(DEFAULT_SERVICE_LEVELS), rules=None,  # type: ignore[arg-type]
        digest_time=time(9, 0), max_mail_bytes=25 << 20, sender_hourly_limit=20,
    )
