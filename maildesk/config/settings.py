"""Configuration: `stations.yaml` plus secrets from the environment, validated once at start
into frozen objects. Every error names the file, the line, the key and what would be right."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import load_dotenv

from maildesk.config.yamlfile import LineDict, YamlReader, load_yaml
from maildesk.mail.oauth import OAuthClient, token_file
from maildesk.mail.patterns import STATION_CODE
from maildesk.triage.phrases import Rules, read_rules

SECURITY = ("tls", "starttls", "plain")
AUTH = ("password", "xoauth2")
URGENCIES = ("urgent", "semi_urgent", "non_urgent")
LANGUAGES = ("en", "hi", "bn", "mr")
_ADDRESS = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    security: str  # tls | starttls | plain
    user: str
    password: str = field(repr=False)  # or, with auth xoauth2, a current access token
    timeout: float = 60.0
    auth: str = "password"  # password | xoauth2
    oauth: OAuthClient | None = None  # xoauth2 with a refresh token: maildesk renews


@dataclass(frozen=True)
class Officer:
    name: str
    address: str


@dataclass(frozen=True)
class Station:
    code: str
    name: str
    zone: str
    address: str
    language: str
    officers: tuple[Officer, ...]
    imap: Server
    smtp: Server
    localities: tuple[str, ...] = ()
    poll_seconds: int = 60
    use_idle: bool = True
    inbox: str = "INBOX"
    processed_folder: str = "maildesk-processed"
    # Officers' mail acts only with a DKIM/SPF pass recorded by this server, when required.
    require_authentication: bool = True
    trusted_authserv_id: str = ""

    def is_officer(self, address: str) -> bool:
        return address.lower() in {o.address for o in self.officers}


@dataclass(frozen=True)
class Zone:
    code: str
    name: str
    dcp: tuple[str, ...]


@dataclass(frozen=True)
class Agency:
    code: str
    name: str
    address: str


@dataclass(frozen=True)
class ServiceLevel:
    acknowledge: timedelta
    first_action: timedelta
    closure: timedelta
    dcp_after: timedelta = timedelta(0)  # after a missed first action, until the DCP is told
    remind_every: timedelta = timedelta(hours=1)  # then reminders, until someone acts


@dataclass(frozen=True)
class WebAccount:
    """One who may sign in to the dashboard: a zone's DCP (zone set) or an administrator."""

    user: str
    password_hash: str = field(repr=False)  # argon2, from `maildesk hash-password`
    zone: str | None = None  # None: an administrator, who sees every station


@dataclass(frozen=True)
class WebSettings:
    """`maildesk serve`: where it listens, the accounts, and how it defends itself."""

    host: str = "127.0.0.1"
    port: int = 8080
    dashboard_url: str = ""  # as the DCP reaches it, for the digest's links
    secret_key: str = field(default="", repr=False)  # signs session cookies
    accounts: tuple[WebAccount, ...] = ()
    lockout_after: int = 5  # failed sign-ins in a row lock the account...
    lockout_for: timedelta = timedelta(minutes=15)  # ...this long
    status_lookups_per_hour: int = 20  # per client address, on the resident's status page
    refresh_seconds: int = 30  # the dashboard fetches fresh figures this often
    in_daemon: bool = False  # `maildesk run` serves the web pages too, in the same process


@dataclass(frozen=True)
class Config:
    path: Path
    data_dir: Path
    timezone: ZoneInfo
    message_domain: str
    admins: tuple[str, ...]
    stations: tuple[Station, ...]
    zones: tuple[Zone, ...]
    agencies: tuple[Agency, ...]
    service_levels: dict[str, ServiceLevel]
    rules: Rules
    digest_time: time
    max_mail_bytes: int
    sender_hourly_limit: int
    answers_per_address_hourly: int = 30  # reply budgets, counted before mail is queued
    answers_per_station_hourly: int = 300
    answers_hourly: int = 2000
    unreachable_after: timedelta = timedelta(minutes=15)  # a mailbox failing this long alerts
    silent_after: timedelta = timedelta(hours=24)  # no mail for this long alerts
    metrics_port: int = 0  # Prometheus metrics on 127.0.0.1:PORT; 0 serves none
    retention_days: int = 0  # files of complaints closed this many days ago go; 0 keeps all
    web: WebSettings = WebSettings()

    def station(self, code: str) -> Station:
        for station in self.stations:
            if station.code == code.upper():
                return station
        raise KeyError(code)

    def zone(self, code: str) -> Zone:
        for zone in self.zones:
            if zone.code == code:
                return zone
        raise KeyError(code)

    def known_addresses(self) -> set[str]:
        """Every address of the configuration: stations, officers, DCPs, admins, agencies."""
        return ({s.address for s in self.stations}
                | {o.address for s in self.stations for o in s.officers}
                | {a for z in self.zones for a in z.dcp} | set(self.admins)
                | {a.address for a in self.agencies})

    def officer_addresses(self, station: Station) -> set[str]:
        """Those who may act on this station's complaints: its officers and its zone's DCP."""
        return {o.address for o in station.officers} | set(self.zone(station.zone).dcp)


DEFAULT_SERVICE_LEVELS = {
    "urgent": ServiceLevel(timedelta(hours=1), timedelta(minutes=30), timedelta(days=1),
                           timedelta(minutes=0), timedelta(hours=1)),
    "semi_urgent": ServiceLevel(timedelta(hours=1), timedelta(hours=6), timedelta(days=3),
                                timedelta(hours=6), timedelta(hours=12)),
    "non_urgent": ServiceLevel(timedelta(hours=1), timedelta(days=2), timedelta(days=15),
                               timedelta(days=2), timedelta(days=2)),
}


class _Reader(YamlReader):
    """The one YAML reader (maildesk/config/yamlfile.py) and the configuration's own
    constructs: mail addresses and the names of secrets."""

    def address(self, key: str) -> str:
        value = self.str(key).lower()
        if not _ADDRESS.match(value):
            raise self.error(f"'{value}' is not a mail address like name@example.org", key)
        return value

    def addresses(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise self.error("expected a list of mail addresses", key)
        for item in value:
            if not isinstance(item, str) or not _ADDRESS.match(item.strip()):
                raise self.error(f"'{item}' is not a mail address like name@example.org", key)
        return tuple(v.strip().lower() for v in value)

    def secret(self, key: str, env: dict[str, str]) -> str:
        """Secrets never stand in the YAML: only the name of the variable that holds them."""
        if key.removesuffix("_env") in self.data:
            raise self.error(
                f"secrets do not belong in the YAML; write '{key}: VARIABLE_NAME' and put "
                "VARIABLE_NAME=... in the environment or the .env file",
                key.removesuffix("_env"),
            )
        name = self.data.get(key)
        if name is None:
            return ""
        value = env.get(str(name))
        if value is None:
            if not getattr(env, "required", True):
                return ""  # a dry run (inspect) reads the stations but logs in nowhere
            raise self.error(f"the environment variable {name} is not set (set it in .env)", key)
        return value


def _server(
    reader: _Reader, defaults: dict, kind: str, env: dict[str, str], port: dict[str, int],
    data_dir: Path,
) -> Server:
    reader.known(*SERVER_KEYS, "password", "token", "client_secret",
                 "refresh_token")  # refused by secret(), with why
    merged = LineDict({**defaults, **reader.data})
    # A value taken from `defaults:` is reported at its own line there.
    default_lines = getattr(defaults, "lines", {})
    merged.lines = {**{k: default_lines.get(k, reader.line) for k in defaults},
                    **getattr(reader.data, "lines", {})}
    merged.line = reader.line
    r = _Reader.walk(reader.path, merged, reader.where, reader.line)
    security = r.str("security", "tls", SECURITY)
    auth = r.str("auth", "password", AUTH)
    # XOAUTH2 logs in with an access token: renewed by maildesk from refresh_token_env, or
    # kept fresh in .env by an outside helper (token_env).
    secret_key, other = ("token_env", "password") if auth == "xoauth2" else (
        "password_env", "token")
    for wrong in (other, f"{other}_env"):
        if wrong in merged:
            raise r.error(
                f"not used with auth: {auth}; write '{secret_key}: VARIABLE_NAME' instead", wrong)
    user = r.str("user", "")
    oauth = None
    if "refresh_token_env" in merged:
        if auth != "xoauth2":
            raise r.error("goes with auth: xoauth2", "refresh_token_env")
        token_url = r.str("token_url")
        if not token_url.startswith(("https://", "http://127.", "http://localhost")):
            raise r.error("expected the provider's https:// token endpoint", "token_url")
        oauth = OAuthClient(
            token_url=token_url, client_id=r.str("client_id"),
            client_secret=r.secret("client_secret_env", env),
            refresh_token=r.secret("refresh_token_env", env), scope=r.str("scope", ""),
            store=token_file(data_dir, token_url, user))
    else:
        for key in ("token_url", "client_id", "client_secret_env", "scope"):
            if key in merged:
                raise r.error("is used only with refresh_token_env (OAuth2 renewal)", key)
    return Server(
        host=r.str("host"),
        port=r.int("port", port[security], 1, 65535),
        security=security,
        user=user,
        password=r.secret(secret_key, env),
        timeout=float(r.int("timeout_seconds", 60, 1, 3600)),
        auth=auth,
        oauth=oauth,
    )


SERVER_KEYS = ("host", "port", "security", "user", "password_env", "timeout_seconds", "auth",
               "token_env", "token_url", "client_id", "client_secret_env", "refresh_token_env",
               "scope")
STATION_KEYS = ("code", "name", "zone", "address", "language", "officers", "localities",
                "imap", "smtp", "poll_seconds", "idle", "inbox", "processed_folder",
                "require_authentication", "trusted_authserv_id")
IMAP_PORTS = {"tls": 993, "starttls": 143, "plain": 143}
SMTP_PORTS = {"tls": 465, "starttls": 587, "plain": 25}


def _station(r: _Reader, defaults: _Reader, zones: set[str], env: dict[str, str],
             data_dir: Path) -> Station:
    r.known(*STATION_KEYS)
    code = r.str("code").upper()
    if not STATION_CODE.match(code):
        raise r.error(f"'{code}' must be 2 to 6 letters (it starts every complaint code)", "code")
    zone = r.str("zone")
    if zone not in zones:
        raise r.error(f"unknown zone '{zone}'; zones are: {', '.join(sorted(zones))}", "zone")
    require = r.bool("require_authentication",
                     defaults.data.get("require_authentication", True))
    authserv = r.str("trusted_authserv_id", defaults.data.get("trusted_authserv_id", ""))
    if require and not authserv:
        raise r.error("require_authentication needs trusted_authserv_id: the name your mail "
                      "server writes first in its Authentication-Results header",
                      "require_authentication")
    officers = []
    for o in r.items("officers"):
        o.known("name", "address")
        officers.append(Officer(name=o.str("name", ""), address=o.address("address")))
    return Station(
        code=code,
        name=r.str("name"),
        zone=zone,
        address=r.address("address"),
        language=r.str("language", "en", LANGUAGES),
        officers=tuple(officers),
        localities=tuple(str(x) for x in r.values("localities", "[Behala, Sakher Bazar]")),
        imap=_server(r.child("imap"), defaults.data.get("imap", {}), "imap", env, IMAP_PORTS,
                     data_dir),
        smtp=_server(r.child("smtp"), defaults.data.get("smtp", {}), "smtp", env, SMTP_PORTS,
                     data_dir),
        poll_seconds=r.int("poll_seconds", defaults.data.get("poll_seconds", 60), 5, 86400),
        use_idle=r.bool("idle", defaults.data.get("idle", True)),
        inbox=r.str("inbox", "INBOX"),
        processed_folder=r.str("processed_folder", "maildesk-processed"),
        require_authentication=require,
        trusted_authserv_id=authserv,
    )


def _web(r: _Reader, zones: set[str], env: dict[str, str]) -> WebSettings:
    r.known("host", "port", "dashboard_url", "secret_key_env", "accounts", "lockout_after",
            "lockout_for", "status_lookups_per_hour", "refresh_seconds", "in_daemon")
    accounts = []
    for a in r.items("accounts"):
        a.known("user", "password_hash", "zone", "admin")
        admin = a.bool("admin", False)
        zone = None if admin else a.str("zone")
        if zone is not None and zone not in zones:
            raise a.error(f"unknown zone '{zone}'; zones are: {', '.join(sorted(zones))}", "zone")
        password_hash = a.str("password_hash")
        if not password_hash.startswith("$argon2"):
            raise a.error("expected an argon2 hash made by `maildesk hash-password`",
                          "password_hash")
        accounts.append(WebAccount(a.str("user"), password_hash, zone))
    return WebSettings(
        host=r.str("host", "127.0.0.1"), port=r.int("port", 8080, 1, 65535),
        dashboard_url=r.str("dashboard_url", "").rstrip("/"),
        secret_key=r.secret("secret_key_env", env), accounts=tuple(accounts),
        lockout_after=r.int("lockout_after", 5, 1, 100),
        lockout_for=r.duration("lockout_for", timedelta(minutes=15)),
        status_lookups_per_hour=r.int("status_lookups_per_hour", 20, 1, 10000),
        refresh_seconds=r.int("refresh_seconds", 30, 1, 3600),
        in_daemon=r.bool("in_daemon", False),
    )


class _Env(dict):
    required = True


def load_config(path: Path | str | None = None, env: dict[str, str] | None = None,
                secrets: bool = True, reload: bool = False) -> Config:
    """Read and validate the configuration. Raises ConfigError with file:line on any problem.
    With secrets=False, unset password variables are allowed (for dry runs). At start the
    process environment wins over `.env`; on a reload (SIGHUP) `.env` wins, so that a changed
    password takes effect without a restart."""
    path = Path(path or os.environ.get("MAILDESK_CONFIG") or "config/stations.yaml")
    if env is None:
        load_dotenv(path.parent / ".env", override=reload)
        load_dotenv(Path.cwd() / ".env", override=reload)
        env = dict(os.environ)
    env = _Env(env)
    env.required = secrets
    top = _Reader.walk(path, load_yaml(path))
    top.known("maildesk", "defaults", "zones", "agencies", "service_levels", "stations", "web")
    top.child("defaults").known("poll_seconds", "idle", "imap", "smtp",
                                "require_authentication", "trusted_authserv_id")
    desk = top.child("maildesk").known(
        "timezone", "data_dir", "rules", "message_domain", "admins", "digest_time",
        "max_mail_mb", "sender_hourly_limit", "answers_per_address_hourly",
        "answers_per_station_hourly", "answers_hourly", "unreachable_after", "silent_after",
        "retention_days", "metrics_port")
    try:
        timezone = ZoneInfo(desk.str("timezone", "Asia/Kolkata"))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise desk.error("unknown time zone; use a name like Asia/Kolkata", "timezone") from exc
    data_dir = Path(env.get("MAILDESK_DATA_DIR") or desk.str("data_dir", "data"))
    if not data_dir.is_absolute() and not env.get("MAILDESK_DATA_DIR"):
        data_dir = path.parent / data_dir
    digest = desk.str("digest_time", "09:00")
    if not re.fullmatch(r"\d{1,2}:\d{2}", digest) or not (
        int(digest.split(":")[0]) < 24 and int(digest.split(":")[1]) < 60
    ):
        raise desk.error(f"expected a local time like 09:00, got '{digest}'", "digest_time")

    zones = []
    for z in top.items("zones", required=True):
        z.known("code", "name", "dcp")
        zones.append(Zone(code=z.str("code"), name=z.str("name"), dcp=z.addresses("dcp")))
    zone_codes = {z.code for z in zones}
    defaults = top.child("defaults")
    stations = [_station(s, defaults, zone_codes, env, data_dir)
                for s in top.items("stations", True)]
    if not stations:
        raise top.error("no stations: add at least one under 'stations:'", "stations")
    seen: set[str] = set()
    for reader, station in zip(top.items("stations"), stations, strict=True):
        for key in (station.code, station.address):
            if key in seen:
                raise reader.error(f"'{key}' is used by two stations; each must be unique")
            seen.add(key)

    levels = dict(DEFAULT_SERVICE_LEVELS)
    sl = top.child("service_levels")
    for urgency in sl.data:
        if urgency not in URGENCIES:
            raise sl.error(f"unknown urgency; use one of {', '.join(URGENCIES)}", urgency)
        r, base = sl.child(urgency), DEFAULT_SERVICE_LEVELS[urgency]
        r.known("acknowledge", "first_action", "closure", "dcp_after", "remind_every")
        levels[urgency] = ServiceLevel(
            acknowledge=r.duration("acknowledge", base.acknowledge),
            first_action=r.duration("first_action", base.first_action),
            closure=r.duration("closure", base.closure),
            dcp_after=r.duration("dcp_after", base.dcp_after),
            remind_every=r.duration("remind_every", base.remind_every),
        )
        if levels[urgency].remind_every <= timedelta(0):
            raise r.error("must be longer than 0", "remind_every")
    agencies = [
        Agency(code=a.known("code", "name", "address").str("code"), name=a.str("name"),
               address=a.address("address"))
        for a in top.items("agencies")
    ]
    rules_name = desk.str("rules", "rules.yaml")
    return Config(
        path=path,
        data_dir=data_dir,
        timezone=timezone,
        message_domain=desk.str("message_domain", "maildesk.invalid"),
        admins=desk.addresses("admins"),
        stations=tuple(stations),
        zones=tuple(zones),
        agencies=tuple(agencies),
        service_levels=levels,
        rules=read_rules(path.parent / rules_name),
        digest_time=time(int(digest.split(":")[0]), int(digest.split(":")[1])),
        max_mail_bytes=desk.int("max_mail_mb", 25, 1, 200) * 1024 * 1024,
        sender_hourly_limit=desk.int("sender_hourly_limit", 20, 1, 10000),
        answers_per_address_hourly=desk.int("answers_per_address_hourly", 30, 1, 10000),
        answers_per_station_hourly=desk.int("answers_per_station_hourly", 300, 1, 100000),
        answers_hourly=desk.int("answers_hourly", 2000, 1, 1000000),
        unreachable_after=desk.duration("unreachable_after", timedelta(minutes=15)),
        silent_after=desk.duration("silent_after", timedelta(hours=24)),
        retention_days=desk.int("retention_days", 0, 0, 36500),
        metrics_port=desk.int("metrics_port", 0, 0, 65535),
        web=_web(top.child("web"), zone_codes, env),
    )
