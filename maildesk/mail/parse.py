"""Turn the raw bytes of one incoming mail into a :class:`ParsedMail` - for ANY input.

Residents write from every kind of webmail and phone app, in four languages, and some mail
is simply broken.  Every mail must still be stored, so :func:`parse_mail` never raises:
each field is extracted on its own and falls back to a placeholder when it cannot be.

Design choices (the why):

* ``email.policy.compat32`` parses structure only and never interprets header values on
  access, so a bad Date or Content-Type cannot raise while we read the Subject.  All header
  decoding (8-bit bytes, RFC 2047, RFC 2231 parameters) is done here, explicitly, because
  the stdlib turns raw UTF-8 header bytes (common from Indian webmail) into U+FFFD.
* Bytes are decoded with the declared charset, then UTF-8, then cp1252, so nothing is lost
  to a wrong or unknown label; a few stray bytes inside otherwise valid UTF-8 stay UTF-8.
* Limits (depth, parts, attachments, HTML size) keep hostile mail from costing minutes.
"""

from __future__ import annotations

import binascii
import codecs
import email
import email.header
import email.parser
import email.policy
import email.utils
import functools
import hashlib
import html
import quopri
import re
import unicodedata
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from types import MappingProxyType
from typing import TypeVar

from inscriptis import get_text

from maildesk.mail.language import detect_language
from maildesk.mail.patterns import is_reply_or_forward

MAX_ATTACHMENTS = 100
MAX_DEPTH = 20  # MIME nesting followed by recursion; below it the walk is flat
MAX_PARTS = 1000  # parts visited per message
MAX_HTML_CHARS = 1_000_000  # inscriptis needs ~0.7 s per MB of tag-dense HTML
MAX_FILENAME_CHARS = 120
MAX_FILENAME_BYTES = 240  # most filesystems allow 255 bytes; Bengali is 3 bytes a char
MAX_DEFECTS = 50
MAX_HEADER_DECODE_CHARS = 256 * 1024  # RFC 2047 decoding budget for all header values
MAX_PARAM_CHARS = 64 * 1024  # Content-Type / Content-Disposition values parsed
MAX_ADDRESS_CHARS = 100_000  # per To/Cc/From value (~3000 addresses)
MAX_BOUNDARY_LINES = 10_000  # "--" lines handed to the MIME parser (~0.7 ms each)
MAX_FAILED_RECIPIENTS = 1000
REPORT_TYPES = ("delivery-status", "disposition-notification")

_T = TypeVar("_T")


@dataclass(frozen=True)
class Attachment:
    filename: str  # sanitised, see _safe_filename
    content_type: str  # lower-case maintype/subtype
    size: int
    sha256: str  # hex digest of the decoded payload
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class ParsedMail:
    message_id: str | None  # without angle brackets; None if absent/empty
    in_reply_to: tuple[str, ...]  # message ids without brackets
    references: tuple[str, ...]
    from_addr: str  # lower-cased bare address, "" if none/unparseable
    from_name: str  # decoded display name, "" if none
    to_addrs: tuple[str, ...]  # lower-cased addresses from To and Cc
    reply_to: str  # lower-cased address or ""
    subject: str  # decoded, whitespace-collapsed, "" if none
    date: datetime | None  # timezone-aware (UTC if the header had none); None if absent/bad
    text: str  # visible text (plain preferred, else HTML via inscriptis), "\n" newlines
    from_html: bool  # text was converted from HTML
    html: str  # the HTML the text was converted from ("" unless from_html): quote containers
    language: str | None  # maildesk.mail.language.detect_language of the resident's words
    headers: Mapping[str, tuple[str, ...]] = field(hash=False)  # read-only, all headers
    attachments: tuple[Attachment, ...]
    is_report: bool  # multipart/report (DSN / MDN)
    report_type: str  # "delivery-status", "disposition-notification", or ""
    failed_recipients: tuple[str, ...]  # DSN "Action: failed" + X-Failed-Recipients
    defects: tuple[str, ...]  # parser defect names and our own notes, for diagnostics
    error: str | None  # set when the mail could not be parsed at all


def header_values(parsed: ParsedMail, name: str) -> tuple[str, ...]:
    """All decoded values of header ``name`` (case-insensitive), in order; () if absent."""
    return parsed.headers.get(name.strip().lower(), ())


def parse_mail(raw: bytes) -> ParsedMail:
    """Parse one mail.  Never raises; see ParsedMail.error for mail that is unreadable."""
    try:
        data = raw if isinstance(raw, bytes) else _coerce_bytes(raw)
    except Exception:
        return _unreadable(0, "input is not bytes")
    if not data.strip():
        return _unreadable(len(data), "empty input")
    try:
        return _parse(data)
    except Exception as exc:  # last resort: a bug here must not lose the mail
        return _unreadable(len(data), f"parse failed: {type(exc).__name__}: {exc}")


# --------------------------------------------------------------------------- top level


def _parse(data: bytes) -> ParsedMail:
    notes: list[str] = []  # our own diagnostics, reported with the parser's defects
    error: str | None = None
    mime = _limit_parts(data, notes)
    try:
        msg = email.message_from_bytes(mime, policy=email.policy.compat32)
    except Exception as exc:  # e.g. RecursionError on absurdly nested multiparts
        error = f"MIME structure unreadable: {type(exc).__name__}"
        msg = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(
            mime, headersonly=True
        )
    raw, headers = _collect_headers(msg, notes)

    def guard(fn: Callable[[], _T], default: _T) -> _T:
        return _guard(fn, default, notes)

    def first(name: str) -> str:
        return (raw.get(name) or [""])[0]

    walker = _Walker(notes)
    if error is None:
        guard(lambda: walker.visit(msg, 0, walker.texts), None)
    else:
        # Too deep for the parser: the parts are read one by one, so that the resident's
        # words at the bottom of the nesting are not lost with the structure.
        guard(lambda: walker.visit_pieces(mime), None)
    text, from_html = _visible_text(walker)
    if error is not None:
        if text:  # read piece by piece: what the parser could not do was done another way
            notes.append(f"MimeReadPieceByPiece:{error.rpartition(' ')[2]}")
            error = None
        else:
            text = f"(unreadable mail, {len(data)} bytes)"
    html_source = _shown_html(walker) if from_html else ""

    subject = guard(lambda: _one_line((headers.get("subject") or ("",))[0]), "")
    sender_name, sender = guard(lambda: _first_address(raw.get("from", [])), ("", ""))
    recipients = guard(lambda: _bare(raw.get("to", []) + raw.get("cc", [])), [])
    failed = walker.failed + guard(lambda: _bare(raw.get("x-failed-recipients", [])), [])
    return ParsedMail(
        message_id=guard(lambda: _message_id(first("message-id")), None),
        in_reply_to=guard(lambda: _msg_ids(raw.get("in-reply-to", [])), ()),
        references=guard(lambda: _msg_ids(raw.get("references", [])), ()),
        from_addr=sender,
        from_name=guard(lambda: _one_line(_decode_words(sender_name, notes)), ""),
        to_addrs=_unique(recipients),
        reply_to=guard(lambda: _first_address(raw.get("reply-to", []))[1], ""),
        subject=subject,
        date=guard(lambda: _date(first("date"), notes), None),
        text=text,
        from_html=from_html,
        html=html_source,
        language=guard(lambda: detect_language(_language_sample(subject, text)), None),
        headers=MappingProxyType(headers),
        attachments=tuple(walker.attachments),
        is_report=walker.report_type is not None,
        report_type=walker.report_type or "",
        failed_recipients=_unique(failed),
        defects=_unique(_clean_line(n)[:120] for n in walker.defects + notes)[:MAX_DEFECTS],
        error=error,
    )


def _limit_parts(data: bytes, notes: list[str]) -> bytes:
    """Cut the input before its MAX_BOUNDARY_LINES-th "--" line.

    The stdlib parser needs seconds for a mail of 300 000 tiny parts, all of which we would
    skip anyway (MAX_PARTS); real mail has a handful of boundary lines.
    """
    header_end = min(
        (i for i in (data.find(b"\n\n"), data.find(b"\r\n\r\n")) if i >= 0), default=-1
    )
    if b"multipart" not in data[:header_end].lower():
        return data  # a single part: "--" lines are just text and cost nothing to parse
    pos = 0
    for _ in range(MAX_BOUNDARY_LINES):
        pos = data.find(b"\n--", pos) + 1
        if pos == 0:
            return data
    notes.append("MimeTruncatedTooManyParts")
    return data[:pos]


def _unreadable(size: int, error: str) -> ParsedMail:
    return ParsedMail(
        message_id=None,
        in_reply_to=(),
        references=(),
        from_addr="",
        from_name="",
        to_addrs=(),
        reply_to="",
        subject="",
        date=None,
        text=f"(unreadable mail, {size} bytes)",
        from_html=False,
        html="",
        language=None,
        headers=MappingProxyType({}),
        attachments=(),
        is_report=False,
        report_type="",
        failed_recipients=(),
        defects=(),
        error=_clean_line(error)[:300],
    )


def _coerce_bytes(raw: object) -> bytes:
    if isinstance(raw, str):  # be lenient with callers that already decoded
        return raw.encode("utf-8", "surrogateescape")
    if isinstance(raw, bytearray | memoryview):
        return bytes(raw)
    raise TypeError(type(raw).__name__)  # note: bytes(12345) would be 12345 NULs


def _guard(fn: Callable[[], _T], default: _T, notes: list[str]) -> _T:
    """Run one field extraction; a failure costs that field only, never the mail."""
    try:
        return fn()
    except Exception as exc:
        notes.append(f"ExtractionFailed:{type(exc).__name__}:{exc}")
        return default


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i for i in items if i))


# --------------------------------------------------------------------------- bytes -> str

_CHARSET_ALIASES = {
    "x-user-defined": "cp1252",
    "iso-8859-8-i": "iso-8859-8",
    "windows-874": "cp874",
    "x-sjis": "shift_jis",
    "ansi_x3.4-1968": "ascii",
}
# Codecs that are not charsets a mail can sensibly declare (or are quadratic on big input).
_REFUSED_CODECS = frozenset(
    {"punycode", "idna", "unicode-escape", "raw-unicode-escape", "undefined", "mbcs", "oem"}
)
# Labels that are so often wrong that valid multi-byte UTF-8 beats them.
_WEAK_LABELS = frozenset({"ascii", "iso8859-1", "iso8859-15", "cp1252"})
_SURROGATE = re.compile("[\ud800-\udfff]")


@functools.lru_cache(maxsize=256)
def _codec(charset: str | None) -> str | None:
    """Python codec name for a declared MIME charset, or None if unknown/unsafe."""
    if not charset:
        return None
    name = charset.strip().strip("\"'").lower().split("*", 1)[0]  # RFC 2231 "utf-8*hi"
    name = _CHARSET_ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except Exception:
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _REFUSED_CODECS:
        return None
    return info.name


def _decode_bytes(data: bytes, charset: str | None, notes: list[str] | None = None) -> str:
    """Decode with the declared charset, falling back to UTF-8 and then cp1252."""
    codec = _codec(charset)
    if codec is None and data.isascii():
        return data.decode("ascii")
    if charset and codec is None and notes is not None:
        notes.append(f"UnknownCharset:{charset.strip()[:40]}")
    if codec in _WEAK_LABELS and _is_utf8(data):
        codec = "utf-8"
    if codec in _WIDE_CODECS and data.isascii() and _reads_as_ascii_text(data):
        # "utf-16" on plain ASCII text: read as labelled, every two letters become one
        # CJK character.  Real UTF-16 text is half NULs or 0x09 bytes (Devanagari).
        if notes is not None:
            notes.append(f"CharsetMismatch:{codec}")
        return data.decode("ascii")
    if codec:
        try:
            return data.decode(codec)
        except Exception:
            if notes is not None:
                notes.append(f"CharsetMismatch:{codec}")
    if _is_utf8(data):
        return data.decode("utf-8")
    # Mostly-valid UTF-8 with a few broken bytes stays UTF-8 (cp1252 would garble the
    # whole Bengali/Devanagari text to fix three bytes).
    text = data.decode("utf-8", "replace")
    bad = text.count("\ufffd")
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    if non_ascii - bad > bad:
        return text
    return data.decode("cp1252", "replace")


_WIDE_CODECS = frozenset({"utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"})
_ASCII_TEXT = bytes(range(0x20, 0x7F)) + b"\r\n"


def _reads_as_ascii_text(data: bytes) -> bool:
    return len(data.translate(None, _ASCII_TEXT)) <= len(data) // 20


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _to_text(value: object) -> str:
    """A raw header value as str; raw 8-bit bytes (surrogate-escaped by the parser) decoded."""
    text = value if isinstance(value, str) else str(value)
    if not _SURROGATE.search(text):
        return text
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return _decode_bytes(raw, None)


def _valid_str(text: str) -> str:
    """Replace lone surrogates (e.g. from UTF-7) so the result can always be stored."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


# --------------------------------------------------------------------------- headers

_FOLD = re.compile(r"\r?\n(?=[ \t])")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")
_LINE_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _collect_headers(
    msg: Message, notes: list[str]
) -> tuple[dict[str, list[str]], dict[str, tuple[str, ...]]]:
    """(raw, decoded) headers by lower-case name.

    "raw" is unfolded with 8-bit bytes decoded but RFC 2047 words intact: addresses must be
    split before display names are decoded, or a decoded comma would split a name.
    """
    raw: dict[str, list[str]] = {}
    decoded: dict[str, list[str]] = {}
    budget = MAX_HEADER_DECODE_CHARS
    for name, value in msg.raw_items():
        try:
            key = _clean_line(_to_text(name)).strip().lower()
            text = _valid_str(_FOLD.sub("", _to_text(value)))
            raw.setdefault(key, []).append(text)
            # RFC 2047 decoding costs ~10 us a word: a hostile header block of a million
            # encoded words would take many seconds.  Past the budget, values stay as sent.
            if len(text) <= budget:
                budget -= len(text)
                text = _decode_words(text, notes)
            else:
                notes.append("HeaderDecodeBudgetExceeded")
            decoded.setdefault(key, []).append(_clean_line(text).strip())
        except Exception as exc:
            notes.append(f"ExtractionFailed:header:{type(exc).__name__}")
    return raw, {key: tuple(values) for key, values in decoded.items()}


def _decode_words(value: str, notes: list[str] | None = None) -> str:
    """Decode RFC 2047 encoded words.

    Whitespace between two encoded words is dropped (RFC 2047 6.2) while whitespace next
    to plain text is kept.  Adjacent words in the same charset are joined as bytes before
    decoding, because some mailers split one multi-byte character across two words.
    """
    if "=?" not in value:
        return value
    out: list[str] = []
    run: list[bytes] = []
    run_charset: str | None = None
    pos = 0

    def flush() -> None:
        nonlocal run, run_charset
        if run:
            out.append(_decode_bytes(b"".join(run), run_charset, notes))
        run, run_charset = [], None

    for match in _ENCODED_WORD.finditer(value):
        between = value[pos : match.start()]
        pos = match.end()
        if between and not (run and between.isspace()):
            flush()
            out.append(between)
        payload = _word_bytes(match.group(0))
        if payload is None:
            flush()
            out.append(match.group(0))
            continue
        charset = match.group(1).lower()
        if run and charset != run_charset:
            flush()
        run.append(payload)
        run_charset = charset
    flush()
    out.append(value[pos:])
    return "".join(out)


def _word_bytes(word: str) -> bytes | None:
    """The decoded octets of one encoded word (stdlib does B/Q and padding), or None."""
    try:
        parts = email.header.decode_header(word)
    except Exception:  # HeaderParseError on hopeless base64
        return None
    if len(parts) != 1 or not isinstance(parts[0][0], bytes):
        return None
    # Nothing decodable in a non-empty word (e.g. "=?utf-8?b?!!!?="): show it as written.
    return parts[0][0] or None


def _clean_line(value: str) -> str:
    """Control characters (incl. CR/LF/NUL) become spaces: header values stay one line."""
    return _valid_str(_LINE_CONTROL.sub(" ", value))


def _one_line(value: str) -> str:
    return " ".join(_clean_line(value).split())


_ADDRESS_BAD = re.compile(r"[\s\x00-\x1f\x7f<>(),;:\"\[\]\\]")


def _addresses(values: list[str]) -> list[tuple[str, str]]:
    """(display name, lower-cased bare address) pairs; unparseable entries are dropped."""
    result = []
    # "Roy, Subhajit <s.roy@...>" unquoted (as some Outlook setups write it) reads as the
    # entries "Roy" and "Subhajit <s.roy@...>": a bare word before a named address is the
    # start of its display name.
    words: list[str] = []
    for name, addr in email.utils.getaddresses([_shortened(v) for v in values]):
        if not name and addr and "@" not in addr:
            words.append(addr.strip())
            continue
        if words and name:
            name = ", ".join([*words, name])
        words = []
        addr = addr.strip().strip("<>").lower()
        local, at, domain = addr.rpartition("@")
        if at and local and domain and len(addr) <= 320 and not _ADDRESS_BAD.search(addr):
            result.append((name, _valid_str(addr)))
    return result


def _shortened(value: str) -> str:
    """A value cut to MAX_ADDRESS_CHARS keeping its start and end: a sender's address
    stands at the end, after a display name that may be as long as the sender likes."""
    if len(value) <= MAX_ADDRESS_CHARS:
        return value
    half = MAX_ADDRESS_CHARS // 2
    return value[:half] + value[-half:]


def _bare(values: list[str]) -> list[str]:
    return [addr for _, addr in _addresses(values)]


def _first_address(values: list[str]) -> tuple[str, str]:
    pairs = _addresses(values[:1])
    return pairs[0] if pairs else ("", "")


_BRACKETED = re.compile(r"<([^<>]*)>")
_NOT_IN_ID = re.compile(r"[<>\s\x00-\x1f\x7f-\x9f]")  # folding spaces, brackets, controls


def _msg_ids(values: list[str]) -> tuple[str, ...]:
    ids: list[str] = []
    for value in values:
        found = _BRACKETED.findall(value)
        if not found:  # some clients omit the brackets
            found = [t for t in re.split(r"[\s,]+", value) if "@" in t]
        ids.extend(_valid_str(_NOT_IN_ID.sub("", i)) for i in found)
    return _unique(ids)


def _message_id(value: str) -> str | None:
    found = _BRACKETED.search(value)
    ident = found.group(1) if found else (value.split() or [""])[0]
    return _valid_str(_NOT_IN_ID.sub("", ident)) or None


def _date(value: str, notes: list[str]) -> datetime | None:
    if not value.strip():
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except Exception:
        parsed = None
    if parsed is None:
        notes.append("InvalidDate")
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


# --------------------------------------------------------------------------- MIME params

_PARAM = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"?|[^;]*)')
_QUOTED_PAIR = re.compile(r"\\(.)")
_RFC2231_NAME = re.compile(r"^(.+?)\*(?:(\d{1,3})\*?)?$")
_TOKEN_TYPE = re.compile(r"^[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+$")


def _header_params(value: str) -> tuple[str, dict[str, str]]:
    """Split "type; a=b; c*=utf-8''x" into ("type", {"a": "b", "c": "x"}).

    Written out rather than using Message.get_param, which garbles 8-bit values and can
    raise on odd RFC 2231 continuations.
    """
    head, _, rest = value[:MAX_PARAM_CHARS].partition(";")
    plain: dict[str, str] = {}
    extended: dict[str, list[tuple[int, bool, str]]] = {}
    for name, raw in _PARAM.findall(";" + rest):
        name = name.lower()
        if raw.startswith('"'):
            inner = raw[1:-1] if raw.endswith('"') and len(raw) > 1 else raw[1:]
            raw = _QUOTED_PAIR.sub(_unescape, inner) if "\\" in inner else inner
        else:
            raw = raw.strip()
        ext = _RFC2231_NAME.match(name)
        if ext:
            extended.setdefault(ext.group(1), []).append(
                (int(ext.group(2) or 0), name.endswith("*"), raw)
            )
        else:
            plain.setdefault(name, raw)
    for name, pieces in extended.items():
        plain[name] = _rfc2231_value(sorted(pieces, key=lambda p: p[0]))
    for name in ("name", "filename"):  # Gmail & co. send RFC 2047 words inside the quotes
        if name in plain:
            plain[name] = _decode_words(plain[name])
    return head.strip().lower(), plain


def _unescape(match: re.Match[str]) -> str:
    return match.group(1)


def _rfc2231_value(pieces: list[tuple[int, bool, str]]) -> str:
    charset = None
    chunks: list[bytes] = []
    for i, (_, encoded, text) in enumerate(pieces):
        if encoded and i == 0 and text.count("'") >= 2:
            charset, _, text = text.split("'", 2)
        if encoded:
            chunks.append(urllib.parse.unquote_to_bytes(text))
        else:
            chunks.append(text.encode("utf-8", "surrogateescape"))
    return _decode_bytes(b"".join(chunks), charset or None)


# --------------------------------------------------------------------------- MIME walk


@dataclass
class _PartInfo:
    content_type: str
    params: dict[str, str]
    disposition: str
    filename: str
    cte: str


def _part_info(part: Message) -> _PartInfo:
    fields: dict[str, str] = {}
    for name, value in part.raw_items():
        key = str(name).strip().lower()
        if key in ("content-type", "content-disposition", "content-transfer-encoding"):
            fields.setdefault(key, _FOLD.sub("", _to_text(value)))
    ctype, params = _header_params(fields.get("content-type", ""))
    if not ctype:
        ctype = part.get_default_type()  # text/plain, or message/rfc822 in a digest
    elif not _TOKEN_TYPE.match(ctype):
        # "text" without subtype reads as plain text; anything else unknown is opaque data.
        textual = ctype.split("/")[0] in ("text", "multipart")
        ctype = "text/plain" if textual else "application/octet-stream"
    disposition, dparams = _header_params(fields.get("content-disposition", ""))
    filename = dparams.get("filename") or params.get("name") or ""
    cte = fields.get("content-transfer-encoding", "").strip().strip("\"'").lower()
    return _PartInfo(ctype, params, disposition, filename, cte)


_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_JUNK = bytes(b for b in range(256) if b not in _B64_ALPHABET)


def _payload_bytes(part: Message, cte: str) -> bytes:
    # The raw payload, not get_payload(): compat32 re-decodes an 8-bit body with its
    # declared charset and errors="replace", which would destroy UTF-8 text labelled
    # "x-unknown" or cp1252 text labelled "utf-8" before we could fall back.
    payload = getattr(part, "_payload", None)
    if payload is None:
        payload = part.get_payload()
    if isinstance(payload, bytes):
        raw = payload
    elif isinstance(payload, str):
        raw = _raw_bytes(payload)
    else:
        return b""
    if cte == "base64":
        # Lenient: skip garbage characters, repair missing padding, drop a dangling char.
        clean = raw.translate(None, _B64_JUNK)
        clean = clean[: len(clean) - 1] if len(clean) % 4 == 1 else clean
        try:
            return binascii.a2b_base64(clean + b"=" * (-len(clean) % 4))
        except (binascii.Error, ValueError):
            return raw
    if cte == "quoted-printable":
        return quopri.decodestring(raw)
    return raw


_BOUNDARY_LINE = re.compile(rb"(?m)^--([0-9A-Za-z'()+_,./:=?-]{1,70})[ \t]*\r?$")
_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_:.-]+)""", re.I)
_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/heic": "heic",
    "application/pdf": "pdf",
    "text/plain": "txt",
    "text/html": "html",
    "text/calendar": "ics",
    "message/rfc822": "eml",
    "message/global": "eml",
    "audio/mpeg": "mp3",
    "audio/ogg": "ogg",
    "video/mp4": "mp4",
}


class _Walker:
    """Collects visible text, attachments and DSN data from a parsed message tree."""

    def __init__(self, notes: list[str]) -> None:
        self.notes = notes
        self.texts: list[tuple[str, bool]] = []  # (text or HTML, is_html) in document order
        self.attachments: list[Attachment] = []
        self.defects: list[str] = []
        self.failed: list[str] = []
        self.returned: list[tuple[str, bool]] = []  # text of a report's returned mail
        self.report_type: str | None = None  # None: not a multipart/report
        self.parts = 0

    def visit(self, part: Message, depth: int, texts: list[tuple[str, bool]] | None) -> None:
        """Visit one part; body text goes to ``texts`` (None: a non-chosen alternative)."""
        self.parts += 1
        if self.parts > MAX_PARTS:
            self.notes.append("MimeLimitExceeded")
            return
        if depth > MAX_DEPTH:
            self._deep(part, texts)
            return
        self.defects.extend(type(d).__name__ for d in getattr(part, "defects", ()))
        info = _part_info(part)
        if part.is_multipart():
            self._container(part, info, depth, texts)
        else:
            self._leaf(part, info, depth, texts)

    def _deep(self, top: Message, texts: list[tuple[str, bool]] | None) -> None:
        """Below MAX_DEPTH the tree is walked without recursion, so that hostile nesting
        cannot hide the words at its bottom: every container reads as multipart/mixed, an
        alternative keeps its plain text branch, an attached message's parts join the walk."""
        self.notes.append("MimeNestingFlattened")
        stack = [top]
        while stack:
            part = stack.pop()
            if part is not top:
                self.parts += 1
            if self.parts > MAX_PARTS:
                self.notes.append("MimeLimitExceeded")
                return
            self.defects.extend(type(d).__name__ for d in getattr(part, "defects", ()))
            info = _part_info(part)
            if not part.is_multipart():
                self._leaf(part, info, MAX_DEPTH, texts)
                continue
            children = [c for c in part.get_payload() if isinstance(c, Message)]
            if info.content_type == "message/delivery-status":
                for block in children:
                    self._dsn_fields({str(k).lower(): _to_text(v) for k, v in block.raw_items()})
                continue
            if info.content_type == "multipart/alternative":
                plain = [c for c in children if c.get_content_type() == "text/plain"]
                children = plain[:1] or children[:1]
            stack.extend(reversed(children))

    def visit_pieces(self, data: bytes) -> None:
        """A mail whose structure the parser cannot follow: the body is cut at every
        boundary-looking line and each piece read as a part of its own."""
        starts = [m.end() for m in _BOUNDARY_LINE.finditer(data)]
        ends = [m.start() for m in _BOUNDARY_LINE.finditer(data)][1:] + [len(data)]
        parser = email.parser.BytesParser(policy=email.policy.compat32)
        for start, end in zip(starts, ends, strict=True):  # before the first: a preamble
            piece = data[start:end].lstrip(b"\r\n")
            # A container's piece holds only its headers (its parts are pieces of their own):
            # it is neither parsed whole (the parser compiles a pattern for each boundary)
            # nor counted against MAX_PARTS, or deep nesting would use it all up.
            head = parser.parsebytes(piece, headersonly=True)
            if not _part_info(head).content_type.startswith("multipart/"):
                self.visit(parser.parsebytes(piece), MAX_DEPTH, self.texts)
                if self.parts >= MAX_PARTS:
                    break

    def _container(
        self, part: Message, info: _PartInfo, depth: int, texts: list[tuple[str, bool]] | None
    ) -> None:
        children = [c for c in part.get_payload() if isinstance(c, Message)]
        ctype = info.content_type
        if ctype == "message/delivery-status":
            for block in children:
                self._dsn_fields({str(k).lower(): _to_text(v) for k, v in block.raw_items()})
        elif ctype in ("message/rfc822", "message/global"):
            self._attached_message(part, info, children, depth, texts)
        elif ctype.startswith("message/"):
            pass  # disposition-notification fields and the like: nothing to show or keep
        elif ctype == "multipart/alternative":
            self._alternative(children, depth, texts)
        else:
            if ctype == "multipart/report" and self.report_type is None:
                kind = info.params.get("report-type", "").strip().lower()
                self.report_type = kind if kind in REPORT_TYPES else ""
            for child in children:
                self.visit(child, depth + 1, texts)

    def _alternative(
        self, children: list[Message], depth: int, texts: list[tuple[str, bool]] | None
    ) -> None:
        # Every branch is walked (inline images of the HTML branch are evidence too), but
        # only one branch's text is kept: plain text if it has any, else the first with text.
        options: list[list[tuple[str, bool]]] = []
        for child in children:
            branch: list[tuple[str, bool]] = []
            self.visit(child, depth + 1, branch)
            options.append(branch)
        if texts is None:
            return
        with_text = [o for o in options if any(t.strip() for t, _ in o)]
        plain = [o for o in with_text if not any(is_html for _, is_html in o)]
        texts.extend((plain or with_text or [[]])[0])

    def _leaf(
        self, part: Message, info: _PartInfo, depth: int, texts: list[tuple[str, bool]] | None
    ) -> None:
        ctype = info.content_type
        if ctype.startswith("multipart/"):
            # Declared multipart, but the parser found no usable boundary.
            recovered = self._recover_multipart(part, info)
            if recovered is not None:
                self.visit(recovered, depth + 1, texts)
                return
            ctype = "text/plain"
        if ctype == "message/delivery-status":  # e.g. encoded, so not parsed into blocks
            raw = _payload_bytes(part, info.cte)
            for fields in _field_blocks(_decode_bytes(raw, info.params.get("charset"))):
                self._dsn_fields(fields)
            return
        if (
            info.filename
            or info.disposition == "attachment"
            or ctype not in ("text/plain", "text/html")
        ):
            self._attach(part, info, ctype)
            # Plain text shown inline is body text even with a file name (phone clients and
            # Apple Mail write the resident's words so): it is kept as a file and read too.
            if not (ctype == "text/plain" and info.disposition == "inline"):
                return
        if texts is None:
            return
        raw = _payload_bytes(part, info.cte)
        charset = info.params.get("charset")
        if ctype == "text/html" and not charset:
            found = _META_CHARSET.search(raw[:4096])
            charset = found.group(1).decode("ascii") if found else None
        text = _decode_bytes(raw, charset, self.notes)
        if ctype == "text/plain" and info.params.get("format", "").strip().lower() == "flowed":
            text = _unflow(text, info.params.get("delsp", "").strip().lower() == "yes")
        # HTML is converted later, and only if its alternative is the one shown.
        texts.append((text, ctype == "text/html"))

    def _recover_multipart(self, part: Message, info: _PartInfo) -> Message | None:
        """Re-parse a multipart body with the first boundary-looking line, if there is one."""
        raw = _payload_bytes(part, info.cte)
        found = _BOUNDARY_LINE.search(raw)
        if not found:
            return None
        boundary = found.group(1)
        if boundary.endswith(b"--") and raw.count(b"--" + boundary[:-2]) > 1:
            boundary = boundary[:-2]  # the first match was a closing delimiter
        head = b'Content-Type: %s; boundary="%s"\r\n\r\n' % (
            info.content_type.encode("ascii", "replace"),
            boundary,
        )
        recovered = email.message_from_bytes(head + raw, policy=email.policy.compat32)
        if not recovered.is_multipart():
            return None
        self.notes.append("RecoveredMissingBoundary")
        return recovered

    def _attached_message(
        self,
        part: Message,
        info: _PartInfo,
        children: list[Message],
        depth: int,
        texts: list[tuple[str, bool]] | None,
    ) -> None:
        inner = children[0] if children else None
        data = b""
        if inner is not None:
            try:
                data = _serialise(inner, depth)
            except Exception as exc:
                self.notes.append(f"ExtractionFailed:serialise:{type(exc).__name__}")
            # "My neighbour sent me this": the forwarded words are the complaint, so they are
            # read where they stand, under a forward line (already rendered: the inner
            # files stay inside the .eml).  A report's returned mail (a bounce quoting our
            # own answer) is no one's words: shown only if the report says nothing itself.
            nested = _Walker(self.notes)
            nested.visit(inner, depth + 1, nested.texts)
            block = (_forward_head(inner) + _visible_text(nested)[0], False)
            if self.report_type is not None:
                self.returned.append(block)
            elif texts is not None:
                texts.append(block)
        ctype = info.content_type if info.content_type.startswith("message/") else "message/rfc822"
        self._attach(part, info, ctype, data)

    def _attach(
        self, part: Message, info: _PartInfo, ctype: str, data: bytes | None = None
    ) -> None:
        if len(self.attachments) >= MAX_ATTACHMENTS:
            self.notes.append("AttachmentLimitExceeded")
            return
        if data is None:
            data = _payload_bytes(part, info.cte)
        name = _safe_filename(info.filename, len(self.attachments) + 1, ctype)
        digest = hashlib.sha256(data).hexdigest()
        self.attachments.append(Attachment(name, ctype, len(data), digest, data))

    def _dsn_fields(self, fields: Mapping[str, str]) -> None:
        """One per-recipient block of a delivery-status report."""
        if not fields.get("action", "").strip().lower().startswith("failed"):
            return
        if len(self.failed) >= MAX_FAILED_RECIPIENTS:
            self.notes.append("FailedRecipientLimitExceeded")
            return
        recipient = fields.get("final-recipient") or fields.get("original-recipient") or ""
        address = recipient.split(";", 1)[-1].strip()  # "rfc822; user@host"
        self.failed.extend(_bare([address]))


def _serialise(msg: Message, depth: int) -> bytes:
    """The bytes of a parsed (sub)message, rebuilt from what the parser kept.

    Not Message.as_bytes(): the stdlib generators re-encode 8-bit text parts with their
    declared charset (and raise on broken ones), and may even rewrite the part while doing
    so.  Joining the raw headers and payloads keeps the attached mail as it was sent, except
    that header lines end in CRLF.
    """
    if depth > MAX_DEPTH:
        return b""
    head = "".join(f"{name}: {value}\r\n" for name, value in msg.raw_items()) + "\r\n"
    out = [_raw_bytes(head)]
    payload = getattr(msg, "_payload", None)
    if isinstance(payload, list):
        parts = [_serialise(p, depth + 1) for p in payload if isinstance(p, Message)]
        boundary = _part_info(msg).params.get("boundary", "")
        if msg.get_content_maintype() == "multipart" and boundary:
            delimiter = b"--" + _raw_bytes(boundary)
            out.append(_raw_bytes(msg.preamble or ""))
            out.extend(b"%s\r\n%s\r\n" % (delimiter, part) for part in parts)
            out.append(delimiter + b"--\r\n" + _raw_bytes(msg.epilogue or ""))
        else:  # message/rfc822 (one message) or delivery-status (header blocks)
            out.append(b"\r\n".join(parts))
    elif isinstance(payload, str | bytes):
        out.append(payload if isinstance(payload, bytes) else _raw_bytes(payload))
    return b"".join(out)


def _raw_bytes(text: str) -> bytes:
    """Parser text back to the original bytes (8-bit bytes were surrogate-escaped)."""
    return text.encode("utf-8", "surrogateescape")


def _field_blocks(text: str) -> list[dict[str, str]]:
    """Header-style blocks separated by blank lines (delivery-status bodies)."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last = ""
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
            current, last = {}, ""
        elif line[0] in " \t" and last:
            current[last] += " " + line.strip()
        else:
            name, sep, value = line.partition(":")
            if sep:
                last = name.strip().lower()
                current.setdefault(last, value.strip())
    if current:
        blocks.append(current)
    return blocks


# --------------------------------------------------------------------------- text

_XML_DECL = re.compile(r"^\s*<\?xml[^>]*>")
# [^<>] rather than [^>]: an unclosed "<" must not make every later "<" rescan to the end.
_BLOCK_TAG = re.compile(r"(?i)<(?:br|/p|/div|/tr|/li|/h\d)\b[^<>]*>")
_TAG = re.compile(r"<[^<>]*>")
_BODY_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufeff]")
_BLANK_LINES = re.compile(r"\n{3,}")
_QUOTED_LINE = re.compile(r"(?m)^[ \t]*>.*$")
# "On <date>, <name> wrote:" - Gmail wraps it onto a second line when it is long.
_ATTRIBUTION = re.compile(r"(?m)^On\b[^\n]{0,300}(?:\n[^\n]{0,300})?\bwrote:[ \t]*$")
_ORIGINAL_MESSAGE = re.compile(
    r"(?m)^[ \t]*-{2,}[ \t]*(?:Original|Forwarded) [Mm]essage[ \t]*-{2,}"
)


def _html_to_text(markup: str, notes: list[str]) -> str:
    if len(markup) > MAX_HTML_CHARS:
        markup = markup[:MAX_HTML_CHARS]
        notes.append("HtmlTruncated")
    markup = _XML_DECL.sub("", markup, count=1)  # lxml refuses str input with a declaration
    try:
        text = get_text(markup)
    except Exception as exc:
        notes.append(f"HtmlConversionFailed:{type(exc).__name__}")
        text = ""
    if not text.strip():
        # lxml gives up on some broken or very deeply nested markup: strip tags crudely.
        crude = _TAG.sub("", _BLOCK_TAG.sub("\n", _drop_script_style(markup)))
        text = html.unescape(crude)
    return text


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _drop_script_style(markup: str) -> str:
    """Remove <script>/<style> blocks in one linear pass (a lazy regex is quadratic on
    hostile input with many unclosed tags)."""
    lower = markup.translate(_ASCII_LOWER)  # str.lower() may change lengths ("İ")
    out: list[str] = []
    pos = 0
    next_at = {"script": -1, "style": -1}
    while pos < len(markup):
        for tag, at in next_at.items():
            if at < pos:
                found = lower.find("<" + tag, pos)
                next_at[tag] = found if found >= 0 else len(markup)
        tag = min(next_at, key=lambda t: next_at[t])
        start = next_at[tag]
        out.append(markup[pos:start])
        if start >= len(markup):
            break
        end = lower.find("</" + tag, start)
        close = lower.find(">", end) if end >= 0 else -1
        pos = close + 1 if close >= 0 else len(markup)
    return " ".join(out)


def _normalise_text(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _BODY_CONTROL.sub("", text)
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return _valid_str(_BLANK_LINES.sub("\n\n", text).strip())


def _visible_text(walker: _Walker) -> tuple[str, bool]:
    def render(parts: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
        out = []
        for body, is_html in parts:
            text = _normalise_text(_html_to_text(body, walker.notes) if is_html else body)
            if text:
                out.append((text, is_html))
        return out

    # A bounce whose only text is the mail it returns shows that mail.
    pieces = render(walker.texts) or render(walker.returned)
    return "\n\n".join(t for t, _ in pieces), any(is_html for _, is_html in pieces)


def _shown_html(walker: _Walker) -> str:
    """The HTML bodies behind the shown text, for quote containers (mail.html_quotes)."""
    parts = walker.texts if any(t.strip() for t, _ in walker.texts) else walker.nested_texts
    return "\n".join(body[:MAX_HTML_CHARS] for body, is_html in parts if is_html)


FORWARD_LINE = "---------- Forwarded message ----------"
_FORWARD_FIELDS = ("from", "date", "subject", "to")


def _forward_head(msg: Message) -> str:
    """The forward line and the forwarded mail's From/Date/Subject/To, as mail clients show
    a forward inline; each value decoded and one line, capped."""
    found: dict[str, str] = {}
    for name, value in msg.raw_items():
        key = _to_text(name).strip().lower()
        if key in _FORWARD_FIELDS and key not in found:
            text = _one_line(_decode_words(_FOLD.sub("", _to_text(value))[:MAX_PARAM_CHARS]))
            found[key] = f"{key.capitalize()}: {text[:300]}"
    return "\n".join([FORWARD_LINE, *(found[k] for k in _FORWARD_FIELDS if k in found)]) + "\n\n"


_FLOWED_SIGNATURE = "-- "


def _unflow(text: str, delsp: bool) -> str:
    """RFC 3676 format=flowed: a line ending in a space goes on in the next line of the same
    quote depth (with DelSp=yes that space was added by the sender's client and is dropped);
    a leading space was added to "stuff" the line.  Without this, a phrase wrapped by the
    sender's client reads as two lines, and with DelSp a word split in two stays split."""
    out: list[str] = []
    para: list[str] = []
    para_depth = 0
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        body = line.lstrip(">")
        depth = len(line) - len(body)
        body = body[1:] if body.startswith(" ") else body
        if para and depth != para_depth:  # a flowed line must not run into another quote
            out.append(_quote_prefix(para_depth) + "".join(para))
            para = []
        # An officer's command ("#close ...") stands on its own line: clients that leave a
        # typed trailing space after it must not glue the next line on to its argument.
        flowed = (body.endswith(" ") and body != _FLOWED_SIGNATURE
                  and not (not para and body.lstrip().startswith(("#", "＃"))))
        para.append(body[:-1] if flowed and delsp else body)
        para_depth = depth
        if not flowed:
            out.append(_quote_prefix(depth) + "".join(para))
            para = []
    if para:
        out.append(_quote_prefix(para_depth) + "".join(para))
    return "\n".join(out)


def _quote_prefix(depth: int) -> str:
    return ">" * depth + " " if depth else ""


def _language_sample(subject: str, text: str) -> str:
    """The resident's own words: in a reply, the subject, the quoted lines and the
    "On ... wrote:" line are usually our English acknowledgement, which must not outvote
    a short answer written in Bengali."""
    text = text[:20_000]  # detect_language reads only the start anyway
    own = _ORIGINAL_MESSAGE.split(text, maxsplit=1)[0]
    own = _ATTRIBUTION.sub("", _QUOTED_LINE.sub("", own))
    if is_reply_or_forward(subject):
        subject = ""
    return f"{subject}\n{own if own.strip() else text}"


# --------------------------------------------------------------------------- filenames

_PATH_SEPARATORS = re.compile(r"[/\\]")
_WINDOWS_RESERVED = re.compile(r'[:*?"<>|]')
_KEEP_FORMAT = {"\u200c", "\u200d"}  # ZWNJ/ZWJ shape Bengali and Devanagari conjuncts


def _safe_filename(raw: str, index: int, content_type: str) -> str:
    """Basename only, no control/format chars, no leading dots, NFC, length-capped.

    Falls back to "attachment-N.ext" when nothing usable is left.
    """
    name = unicodedata.normalize("NFC", _valid_str(raw[:4096]))
    name = "".join(
        ch
        for ch in name
        if ch in _KEEP_FORMAT or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co")
    )
    components = [c for c in _PATH_SEPARATORS.split(name) if c.strip()]
    name = components[-1] if components else ""
    name = " ".join(_WINDOWS_RESERVED.sub("_", name).split())
    name = name.lstrip(". ").rstrip(". ")
    if not name:
        return f"attachment-{index}.{_EXTENSIONS.get(content_type, 'bin')}"
    stem, dot, ext = name.rpartition(".")
    if not (dot and stem and 0 < len(ext) <= 16 and " " not in ext):
        stem, ext = name, ""
    suffix = f".{ext}" if ext else ""
    while stem and (
        len(stem) + len(suffix) > MAX_FILENAME_CHARS
        or len((stem + suffix).encode("utf-8")) > MAX_FILENAME_BYTES
    ):
        stem = stem[: min(len(stem) - 1, MAX_FILENAME_CHARS - len(suffix))]
    stem = stem.rstrip(". ")
    if not stem:
        return f"attachment-{index}.{_EXTENSIONS.get(content_type, 'bin')}"
    return unicodedata.normalize("NFC", stem + suffix)
