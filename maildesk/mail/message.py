"""Outgoing mail as bytes: :func:`build_message` writes the RFC 5322 message (the text comes
from :mod:`maildesk.mail.templates`).

* :func:`build_message` writes the message bytes.  The headers that carry user-controlled
  text (Subject, display names, extra headers) are encoded and folded here by hand, because
  CPython 3.11's email package gets two things wrong for Indic text:

  - Its folder (policy.default/SMTP) turns the space at a fold point between two RFC 2047
    encoded-words into folding whitespace, which every decoder must drop, so the space is
    lost: ``Fwd: हमारे मोहल्ले में [BHL-2611-0007]`` reads back as
    ``Fwd: हमारे मोहल्लेमें [BHL-2611-0007]``.  We encode every space *inside* an
    encoded-word, so the whitespace between words never matters.
  - Its address parser keeps the whitespace between adjacent encoded-words in a display name
    (RFC 2047 says to drop it), so a long Bengali name split over several words reads back
    with spaces inside words.  Display names are therefore written as a single encoded-word.

  The single text/plain part is written directly (fast path); with attachments the MIME body
  comes from the email package, whose body and parameter encoding round-trips correctly.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.message import MIMEPart
from email.policy import SMTP
from email.utils import format_datetime, parseaddr

__all__ = [
    "build_message",
    "make_message_id",
    "sanitize_header_text",
]

# ---------------------------------------------------------------------------------------------
# Text sanitising
# ---------------------------------------------------------------------------------------------

# Line-breaking characters (and tab/VT/FF) become a single space so that "a\r\nb" stays two
# words instead of being glued into "ab".
_BREAKS_RE = re.compile("[\t\n\v\f\r\x85\u2028\u2029]+")
# Remaining C0/C1 controls and DEL are dropped.  Lone surrogates (which appear when bytes were
# decoded with surrogateescape) cannot be encoded as UTF-8 and become U+FFFD.
# Format characters such as ZWJ/ZWNJ (U+200C/U+200D) are kept on purpose: Bengali, Hindi and
# Marathi spelling depends on them.
_CONTROLS_RE = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")
_SURROGATES_RE = re.compile("[\ud800-\udfff]")


def sanitize_header_text(value: object) -> str:
    """Return ``value`` as one line fit for a header: no CR/LF, no control characters."""
    text = str(value)
    text = _BREAKS_RE.sub(" ", text)
    text = _CONTROLS_RE.sub("", text)
    return _SURROGATES_RE.sub("\ufffd", text)


# Body text keeps tabs and newlines; other controls are dropped (a NUL or a bare CR in a
# resident's text must not reach the wire).
_BODY_CONTROLS_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _sanitize_body(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _BODY_CONTROLS_RE.sub("", text)
    return _SURROGATES_RE.sub("\ufffd", text)


# ---------------------------------------------------------------------------------------------
# Header encoding
# ---------------------------------------------------------------------------------------------

# RFC 5322 says lines SHOULD be <= 78 characters; RFC 2047 says a line with an encoded-word
# must be <= 76.  We use 76 for every line we fold ourselves.
_FOLD_AT = 76
_HARD_LIMIT = 998
# An encoded-word is at most 75 characters: "=?utf-8?b?" + base64 + "?=" leaves 63 for the
# base64 text, i.e. 15 groups = 45 bytes.
_EW_OVERHEAD = len("=?utf-8?b??=")
_EW_MAX_BYTES = 45
_ZW_JOINERS = {"\u200c", "\u200d"}


# Per character: (does it attach to the previous character, is it a virama).  Filled lazily;
# bounded by the number of distinct characters ever seen.
_CHAR_CLASS: dict[str, tuple[bool, bool]] = {}


def _char_class(ch: str) -> tuple[bool, bool]:
    cls = _CHAR_CLASS.get(ch)
    if cls is None:
        attaches = unicodedata.category(ch) in ("Mn", "Mc", "Me") or ch in _ZW_JOINERS
        cls = _CHAR_CLASS[ch] = (attaches, unicodedata.combining(ch) == 9)  # 9 = virama
    return cls


def _char_at(data: bytes, i: int) -> str:
    """The character whose UTF-8 encoding starts at byte ``i``."""
    lead = data[i]
    size = 1 if lead < 0x80 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
    return data[i : i + size].decode("utf-8")


def _char_start_before(data: bytes, i: int) -> int:
    i -= 1
    while i > 0 and data[i] & 0xC0 == 0x80:  # UTF-8 continuation byte
        i -= 1
    return i


def _safe_cut(data: bytes, start: int, end: int) -> int:
    """Largest cut in ``data[start:end]`` that splits neither a character nor a cluster.

    Splitting between encoded-words at an arbitrary code point is legal, but clients that
    decode word by word may then show a vowel sign or conjunct apart from its consonant.  We
    do not cut before a combining mark or ZWJ/ZWNJ, nor after a virama or joiner.  Only the
    few characters around the cut are examined, so this is cheap for long subjects.
    """
    if end >= len(data):
        return len(data)
    while end > start and data[end] & 0xC0 == 0x80:
        end -= 1
    cut = end
    while cut > start:
        attaches, _ = _char_class(_char_at(data, cut))
        prev = _char_at(data, _char_start_before(data, cut))
        if not (attaches or _char_class(prev)[1] or prev in _ZW_JOINERS):
            return cut
        cut = _char_start_before(data, cut)
    # One cluster longer than a whole word (dozens of stacked marks): cut between code points.
    return end if end > start else start + len(_char_at(data, start).encode("utf-8"))


def _encoded_words(text: str, first_room: int) -> list[str]:
    """RFC 2047 'B' encoded-words of whole characters; spaces are encoded inside the words.

    ``first_room`` is how many characters the first word may take on its line; if that is too
    little (a very long header name) the first word gets the normal size and its line runs past
    76 characters, still far below 998.
    """
    limit = min(_EW_MAX_BYTES, max(0, (first_room - _EW_OVERHEAD) // 4 * 3))
    if limit < 12:
        limit = _EW_MAX_BYTES
    data = text.encode("utf-8")
    words: list[str] = []
    pos = 0
    while pos < len(data):
        cut = _safe_cut(data, pos, pos + limit)
        words.append(f"=?utf-8?b?{base64.b64encode(data[pos:cut]).decode('ascii')}?=")
        pos = cut
        limit = _EW_MAX_BYTES
    return words


def _fold(name: str, tokens: Sequence[str]) -> str:
    """``Name: tok tok ...`` folded at the separating spaces, CRLF-terminated.

    The caller guarantees that the single space between tokens may become CRLF+SP: unfolding
    (removing CRLF) restores exactly one space, and between encoded-words it is ignored.
    The first token always stays on the name's line: CPython's parser keeps the whitespace of
    a fold made right after "Name:" as a leading space of the value.
    """
    lines: list[str] = []
    line = f"{name}:"
    for i, tok in enumerate(tokens):
        piece = " " + tok
        if i > 0 and len(line) + len(piece) > _FOLD_AT:
            lines.append(line)
            line = piece
        else:
            line += piece
    lines.append(line)
    out = "\r\n".join(lines)
    if any(len(x) > _HARD_LIMIT for x in lines):
        raise ValueError(f"{name} header has a line over {_HARD_LIMIT} characters")
    return out + "\r\n"


_PRINTABLE_ASCII_RE = re.compile(r"^[\x21-\x7e]+(?: [\x21-\x7e]+)*$")
# A plain token longer than this is encoded instead, so that no line can pass 998 characters
# whatever the header name.
_MAX_PLAIN_TOKEN = 900


def _unstructured(name: str, value: str) -> str:
    """Fold an unstructured header (Subject, extra headers) after sanitising it."""
    value = sanitize_header_text(value).strip()
    # Plain ASCII stays readable.  It must not contain "=?" (a decoder would take it for an
    # encoded-word), runs of spaces (one of them could end up as trailing whitespace at a fold,
    # which some relays strip) or words too long to fold.
    if not value:
        return _fold(name, [])
    if (
        _PRINTABLE_ASCII_RE.match(value)
        and "=?" not in value
        and max(len(w) for w in value.split(" ")) <= _MAX_PLAIN_TOKEN
    ):
        return _fold(name, value.split(" "))
    return _fold(name, _encoded_words(value, _FOLD_AT - len(name) - 2))


# Characters that may appear unquoted in a display name (RFC 5322 atext plus space).
_ATOM_PHRASE_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]+$")
_LOCAL_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$")
# RFC 6531: a local part may hold any non-ASCII letters (राम@example.in); the header is then
# written in UTF-8 (RFC 6532) and the mail needs SMTPUTF8 (see mail.smtp). Controls, spaces
# and the specials stay refused.
_UTF8_LOCAL_RE = re.compile(r"^(?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]|[^\x00-\x7f\s\x80-\x9f"
                            r"\u2028\u2029\ufeff])+$")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")


def _clean_addr_spec(addr: str) -> str:
    """Validate ``local@domain``; IDNA-encode the domain.  Raises ValueError."""
    addr = addr.strip()
    local, at, domain = addr.rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"not an email address: {addr!r}")
    if (
        not (_LOCAL_RE.match(local) or _UTF8_LOCAL_RE.match(local))
        or local.startswith(".")
        or local.endswith(".")
        or (".." in local)
    ):
        raise ValueError(f"unsupported local part in address: {addr!r}")
    try:
        domain = domain.rstrip(".").encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"bad domain in address: {addr!r}") from exc
    if not _DOMAIN_RE.match(domain):
        raise ValueError(f"bad domain in address: {addr!r}")
    return f"{local}@{domain}"


# Longest display name (UTF-8 bytes) whose single encoded-word still fits a 998-byte line.
_MAX_PHRASE_BYTES = (_HARD_LIMIT - 1 - _EW_OVERHEAD) // 4 * 3 - 3


def _phrase_encoded_word(name: str) -> str:
    """A display name as ONE encoded-word, even when that is longer than 75 characters.

    RFC 2047 wants long text split into several words, and a compliant decoder joins adjacent
    words without the whitespace between them.  CPython's address parser (email.policy.default,
    3.11) does not: it keeps that whitespace, so its own output for a long Bengali name reads
    back as "বার াণসী".  A single word is decoded identically by both (and by every common mail
    client); the line may exceed 76 characters but stays far below 998.
    """
    data = name.encode("utf-8")
    if len(data) > _MAX_PHRASE_BYTES:
        data = data[: _safe_cut(data, 0, _MAX_PHRASE_BYTES - 3)] + "…".encode()
    return f"=?utf-8?b?{base64.b64encode(data).decode('ascii')}?="


def _mailbox_tokens(name: str, addr: str) -> list[str]:
    name = " ".join(sanitize_header_text(name).split())
    tokens: list[str] = []
    if name:
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        if _ATOM_PHRASE_RE.match(name) and "=?" not in name and len(name) <= _MAX_PLAIN_TOKEN:
            tokens.extend(name.split(" "))
        elif name.isascii() and "=?" not in name and len(escaped) <= _MAX_PLAIN_TOKEN:
            tokens.append(f'"{escaped}"')
        else:
            # Non-ASCII, or too long to stay on one line as a quoted-string.
            tokens.append(_phrase_encoded_word(name))
    tokens.append(f"<{addr}>")
    return tokens


def _address_list(header: str, entries: Sequence[tuple[str, str]]) -> str:
    tokens: list[str] = []
    for i, (name, addr) in enumerate(entries):
        mailbox = _mailbox_tokens(name, _clean_addr_spec(addr))
        if i < len(entries) - 1:
            mailbox[-1] += ","
        tokens.extend(mailbox)
    return _fold(header, tokens)


def _parse_address(value: str) -> tuple[str, str]:
    """Accept ``addr`` or ``Name <addr>``."""
    value = sanitize_header_text(value).strip()
    if "<" not in value:
        return "", value
    name, addr = parseaddr(value)
    if not addr:
        raise ValueError(f"not an email address: {value!r}")
    return name, addr


_MSGID_CHARS_RE = re.compile(r"[^\x21-\x7e]|[<>\"\\]")


def _clean_msgid(value: str) -> str:
    """Strip brackets, whitespace and anything that cannot appear in a msg-id."""
    return _MSGID_CHARS_RE.sub("", value.strip().strip("<>"))


_TOKEN_RE = re.compile(r"[^A-Za-z0-9._+=-]+")


def make_message_id(token: str, domain: str) -> str:
    """``token@domain`` (without angle brackets) with the token reduced to safe characters.

    Characters outside ``A-Z a-z 0-9 . _ + = -`` become "-", so distinct codes such as
    ``BHL-2611-0007`` survive unchanged.  The domain is IDNA-encoded and validated.
    """
    clean = _TOKEN_RE.sub("-", token).strip(".-")
    clean = re.sub(r"\.{2,}", ".", clean)
    if not clean:
        raise ValueError(f"message-id token is empty after sanitising: {token!r}")
    host = domain.strip().rstrip(".")
    try:
        host = host.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise ValueError(f"bad message-id domain: {domain!r}") from exc
    if not _DOMAIN_RE.match(host):
        raise ValueError(f"bad message-id domain: {domain!r}")
    return f"{clean}@{host}"


# Header names build_message writes itself; extra_headers may not add a second copy.
_RESERVED_HEADERS = frozenset(
    """date from sender to cc bcc reply-to subject message-id in-reply-to references
    auto-submitted x-auto-response-suppress mime-version return-path received""".split()
)
_FIELD_NAME_RE = re.compile(r"^[\x21-\x39\x3b-\x7e]+$")  # printable ASCII except ":"
# References can be grown without limit by the other side.  Keep the thread root and the most
# recent ids, which is what threading clients need.
MAX_REFERENCES = 20
_MAX_MSGID_LEN = 250
_CONTENT_TYPE_RE = re.compile(r"^([A-Za-z0-9!#$&^_.+-]+)/([A-Za-z0-9!#$&^_.+-]+)$")

# SMTP policy: CRLF line ends, 78-column folding for the MIME headers email writes itself,
# and 7bit-safe transfer encodings (it picks quoted-printable or base64 for UTF-8 text).
_POLICY = SMTP


def build_message(
    *,
    from_addr: str,
    from_name: str,
    to_addrs: Sequence[str],
    subject: str,
    body: str,
    message_id: str,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    auto_submitted: str | None = "auto-replied",
    reply_to: str | None = None,
    extra_headers: Mapping[str, str] = {},  # noqa: B006 - read only, never mutated
    date: datetime | None = None,
    attachments: Sequence[tuple[str, str, bytes]] = (),
    html: str | None = None,
) -> bytes:
    """Build a complete message (CRLF line ends, 7-bit headers) ready for SMTP or IMAP.

    * ``to_addrs`` entries are ``addr`` or ``Name <addr>``; ``from_name`` may be any script.
    * ``message_id``, ``in_reply_to`` and ``references`` are given without angle brackets
      (surrounding brackets are tolerated) and written with them.
    * ``auto_submitted=None`` omits Auto-Submitted; ``X-Auto-Response-Suppress: All`` is always
      written; Precedence never is (RFC 3834 advises against it).
    * A naive ``date`` is taken as UTC; default is now.
    * ``attachments`` are ``(filename, content_type, data)``; with any, the message becomes
      multipart/mixed.  message/* and multipart/* types are sent as application/octet-stream
      (they cannot be base64-encoded legally).
    * ``html`` adds an HTML alternative to the text (multipart/alternative, text first).

    Raises ValueError for addresses that cannot be written (e.g. non-ASCII local parts), a
    malformed ``message_id`` or an extra header that clashes with one written here.
    """
    if isinstance(to_addrs, str):
        # A lone string would otherwise be iterated character by character.
        to_addrs = [to_addrs]
    if not to_addrs:
        raise ValueError("to_addrs is empty")
    head = [
        _fold("Date", [format_datetime(_utc(date))]),
        _address_list("From", [(from_name, from_addr)]),
        _address_list("To", [_parse_address(a) for a in to_addrs]),
    ]
    if reply_to:
        head.append(_address_list("Reply-To", [_parse_address(reply_to)]))
    head.append(_unstructured("Subject", subject))
    head.append(_fold("Message-ID", [f"<{_checked_message_id(message_id)}>"]))
    head += _thread_headers(in_reply_to, references)
    if auto_submitted:
        head.append(_unstructured("Auto-Submitted", auto_submitted))
    head.append("X-Auto-Response-Suppress: All\r\n")
    head += _extra_headers(extra_headers)
    head.append("MIME-Version: 1.0\r\n")
    return "".join(head).encode("utf-8") + _body(_sanitize_body(body), html, attachments)


# -- the steps of build_message, in the order the message is written ---------------------------


def _utc(date: datetime | None) -> datetime:
    """`date`, naive taken as UTC; now when none is given."""
    when = date or datetime.now(UTC)
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def _checked_message_id(message_id: str) -> str:
    """Our own Message-ID must already be clean: a bad one is a bug, refused, not repaired."""
    mid = _clean_msgid(message_id)
    if "@" not in mid or mid != message_id.strip().strip("<>") or len(mid) > _MAX_MSGID_LEN:
        raise ValueError(f"bad message_id: {message_id!r}")
    return mid


def _thread_headers(in_reply_to: str | None, references: Sequence[str]) -> list[str]:
    """In-Reply-To and References; ids that came from the other side are cleaned, the
    unusable dropped, and References cut to the root and the most recent ones."""
    head = []
    if in_reply_to:
        irt = _clean_msgid(in_reply_to)
        if irt and len(irt) <= _MAX_MSGID_LEN:
            head.append(_fold("In-Reply-To", [f"<{irt}>"]))
    refs = [r for r in (_clean_msgid(x) for x in references) if r and len(r) <= _MAX_MSGID_LEN]
    if len(refs) > MAX_REFERENCES:
        refs = refs[:1] + refs[-(MAX_REFERENCES - 1) :]
    if refs:
        head.append(_fold("References", [f"<{r}>" for r in refs]))
    return head


def _extra_headers(extra_headers: Mapping[str, str]) -> list[str]:
    """Headers a caller adds (X-Maildesk-*): never one that build_message writes itself."""
    head = []
    for name, value in extra_headers.items():
        # Names come from our own code, so a bad one is a bug: refuse it rather than repair it.
        clean_name = name.strip()
        if not _FIELD_NAME_RE.match(clean_name) or len(clean_name) > 64:
            raise ValueError(f"bad header name: {name!r}")
        lowered = clean_name.lower()
        if lowered in _RESERVED_HEADERS or lowered.startswith("content-"):
            raise ValueError(f"extra header {name!r} clashes with a header set by build_message")
        head.append(_unstructured(clean_name, value))
    return head


def _body(text: str, html: str | None, attachments: Sequence[tuple[str, str, bytes]]) -> bytes:
    """The Content-* headers and the body: plain text, text with an HTML alternative, or text
    with attachments (multipart/mixed).  Its first line follows our header block directly."""
    if html is not None:
        if attachments:
            raise ValueError("html and attachments together are not written")
        part = MIMEPart(policy=_POLICY)
        part.set_content(text, subtype="plain", charset="utf-8")
        part.add_alternative(html, subtype="html", charset="utf-8")
        return part.as_bytes(policy=_POLICY)
    if not attachments:
        # The common case (every ack and notification) is written directly: the email
        # package's MIME machinery costs about 0.4 ms per message, more than everything else.
        return _text_part(text)
    part = MIMEPart(policy=_POLICY)
    part.set_content(text, subtype="plain", charset="utf-8")
    for filename, content_type, data in attachments:
        maintype, subtype = _attachment_type(content_type)
        clean_file = sanitize_header_text(filename).replace("/", "_").replace("\\", "_")
        part.add_attachment(bytes(data), maintype=maintype, subtype=subtype,
                            filename=clean_file.strip() or "attachment")
    return part.as_bytes(policy=_POLICY)


def _attachment_type(content_type: str) -> tuple[str, str]:
    """(maintype, subtype); message/* and multipart/* cannot be base64-encoded legally, so
    they, and anything unreadable, go as application/octet-stream."""
    match = _CONTENT_TYPE_RE.match(content_type.strip())
    if not match or match.group(1).lower() in ("message", "multipart"):
        return "application", "octet-stream"
    return match.group(1).lower(), match.group(2).lower()


def _text_part(body: str) -> bytes:
    """Content-* headers and the encoded body of a single text/plain UTF-8 part.

    ``body`` has LF line ends and no stray controls (see _sanitize_body).
    """
    data = body.encode("utf-8")
    if data.isascii() and all(len(line) <= _FOLD_AT for line in data.split(b"\n")):
        cte = "7bit"
        encoded = data.replace(b"\n", b"\r\n")
        if body and not body.endswith("\n"):
            encoded += b"\r\n"
    else:
        # Pick the shorter encoding: base64 for Indic text (3 bytes per letter), quoted-
        # printable for mostly-English text where it stays readable.
        qp = binascii.b2a_qp(data, quotetabs=False, istext=True, header=False)
        if len(qp) <= len(data) * 4 // 3:
            cte = "quoted-printable"
            encoded = qp.replace(b"\n", b"\r\n")
            if not encoded.endswith(b"\r\n"):
                encoded += b"\r\n"
        else:
            cte = "base64"
            encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
    head = f'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: {cte}\r\n\r\n'
    return head.encode("ascii") + encoded
