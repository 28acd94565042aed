"""Officers are who they say they are: a mail may act on a complaint only if its sender is an
officer of the complaint's station (or the zone's DCP) and, where the station asks for it,
the station's own mail server recorded a DKIM, SPF or DMARC pass for the sender's domain."""

from __future__ import annotations

import re

from maildesk.config.settings import Config, Station
from maildesk.mail.parse import ParsedMail, header_values

_RESULT = re.compile(r"\b(dkim|spf|dmarc)\s*=\s*(\w+)([^;]*)", re.IGNORECASE)
_PROPERTY = re.compile(r"\b(?:header\.d|header\.i|header\.from|smtp\.mailfrom|smtp\.from)"
                       r"\s*=\s*\"?([^\s;\"]+)", re.IGNORECASE)


def _domain(value: str) -> str:
    return value.rsplit("@", 1)[-1].strip().strip(".").lower()


def _aligned(found: str, sender_domain: str) -> bool:
    return sender_domain == found or sender_domain.endswith("." + found)


def verified_by_server(mail: ParsedMail, station: Station) -> tuple[bool, str]:
    """Read the topmost Authentication-Results from the trusted server (RFC 8601): a forger
    can add such headers below it, but the station's server writes its own on top."""
    for header in header_values(mail, "authentication-results"):
        authserv = header.split(";", 1)[0].strip().split()[0].lower() if header.strip() else ""
        if authserv != station.trusted_authserv_id.lower():
            continue
        sender_domain = _domain(mail.from_addr)
        for method, verdict, properties in _RESULT.findall(header):
            if verdict.lower() != "pass":
                continue
            for value in _PROPERTY.findall(properties):
                if _aligned(_domain(value), sender_domain):
                    return True, f"{method}=pass for {sender_domain} by {authserv}"
        return False, f"no DKIM/SPF/DMARC pass for {sender_domain} from {authserv}"
    return False, f"no Authentication-Results from {station.trusted_authserv_id}"


def may_act(mail: ParsedMail, station: Station, config: Config) -> tuple[bool, str]:
    """May this mail change a complaint of `station`? Returns the answer and the reason."""
    if mail.from_addr not in config.officer_addresses(station):
        return False, f"{mail.from_addr} is not an officer of {station.code} or its DCP"
    if not station.require_authentication:
        return True, f"{mail.from_addr} is an officer of {station.code}"
    return verified_by_server(mail, station)
