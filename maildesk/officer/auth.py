"""Officers are who they say they are: a mail may act on a complaint only if its one sender is
an officer of the complaint's station (or the zone's DCP) and, where the station asks for it
(the default), the station's own mail server vouched for that very address.

The server's word is its Authentication-Results header (RFC 8601), read with the authres
library so that comments and quoted strings are never mistaken for results: a sender whose
envelope address is ``"x;dkim=pass header.d=police.example"@evil.example`` gets that text
echoed inside ``smtp.mailfrom=...``, and it must count for nothing.
"""

from __future__ import annotations

import email.policy

import authres

from maildesk.config.settings import Config, Station
from maildesk.mail.parse import ParsedMail, header_values

# The properties in which a server names the sender's full address (local part included).
# smtp.auth: the login of an authenticated submission (RFC 8601 §2.7.4).
_NAMES_SENDER = {("header", "i"), ("smtp", "mailfrom"), ("smtp", "from"), ("smtp", "auth")}
_SHOWN = 80  # characters of a server-named address quoted back in a refusal


def sole_sender(mail: ParsedMail) -> str:
    """The sender's address when the mail has exactly one From header holding exactly one
    address that reads without any defect; "" otherwise. ``officer@x)<evil@y>``, two From
    headers or ``officer@x, evil@y`` are not an officer's mail, whatever is read first."""
    values = header_values(mail, "from")
    if len(values) != 1 or not mail.from_addr:
        return ""
    try:
        header = email.policy.default.header_factory("From", values[0])
    except Exception:  # the stdlib's parser on hostile input: not an officer's mail
        return ""
    if header.defects or len(header.groups) != 1 or header.groups[0].display_name is not None:
        return ""
    addresses = header.addresses
    if len(addresses) != 1 or addresses[0].addr_spec.lower() != mail.from_addr:
        return ""
    return mail.from_addr


def _results(header: str) -> tuple[str, list] | None:
    """(authserv-id, results) of one Authentication-Results value; None if unreadable."""
    try:
        parsed = authres.AuthenticationResultsHeader.parse_value(header)
    except Exception:  # authres raises its own errors and ValueError on bad syntax
        return None
    return str(parsed.authserv_id or "").lower(), list(parsed.results)


def _local_part_ok(result: object, sender: str) -> str:
    """"" when every address the server names for this result is the sender's, else why not."""
    for prop in getattr(result, "properties", []):
        key = (str(prop.type).lower(), str(prop.name).lower())
        value = str(prop.value or "").strip().strip("<>")
        local, at, _ = value.rpartition("@")
        if key in _NAMES_SENDER and at and local and value.lower() != sender:
            return f"the server names the sender {value[:_SHOWN]!r}, not {sender}"
    return ""


def _vouches(result: object, domain: str) -> bool:
    """dmarc=pass for the From domain, or dkim=pass signed by exactly the From domain."""
    method, verdict = str(result.method).lower(), str(result.result).lower()
    if verdict != "pass":
        return False
    props = {(str(p.type).lower(), str(p.name).lower()): str(p.value or "").strip().lower()
             for p in getattr(result, "properties", [])}
    if method == "dmarc":
        return props.get(("header", "from")) == domain
    if method == "dkim":
        return props.get(("header", "d")) == domain
    return False  # spf alone, x-dkim, anything else: not enough


def verified_by_server(mail: ParsedMail, station: Station) -> tuple[bool, str]:
    """Only the headers written under the station's trusted authserv-id count (RFC 8601 §5:
    that server removes any a sender brought with the same id). Every address they name
    must be the sender's; one DMARC or DKIM pass for the From domain is then enough."""
    sender = sole_sender(mail)
    if not sender:
        return False, "the mail does not have exactly one From address"
    trusted = station.trusted_authserv_id.lower()
    domain = sender.rpartition("@")[2]
    found, vouched = False, ""
    for header in header_values(mail, "authentication-results"):
        read = _results(header)
        if read is None or read[0] != trusted:
            continue
        found = True
        for result in read[1]:
            if why := _local_part_ok(result, sender):
                return False, f"{why} ({trusted})"
            if not vouched and _vouches(result, domain):
                vouched = f"{str(result.method).lower()}=pass for {domain} by {trusted}"
    if vouched:
        return True, vouched
    if found:
        return False, f"no DKIM or DMARC pass for {domain} from {trusted}"
    return False, f"no Authentication-Results from {station.trusted_authserv_id}"


def may_act(mail: ParsedMail, station: Station, config: Config) -> tuple[bool, str]:
    """May this mail change a complaint of `station`? Returns the answer and the reason."""
    sender = sole_sender(mail)
    if not sender:
        return False, "the mail does not have exactly one From address"
    if sender not in config.officer_addresses(station):
        return False, f"{sender} is not an officer of {station.code} or its DCP"
    if not station.require_authentication:
        return True, f"{sender} is an officer of {station.code}"
    return verified_by_server(mail, station)
