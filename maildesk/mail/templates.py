"""Mail text from templates: ``templates/<lang>/<name>.txt`` (and the digest's HTML).

The first line of every template is ``Subject: ...``, then a blank line, then the body.  The
subject line and the body are compiled as two separate jinja templates, so a value containing
a newline can never move text from the subject into the body (or the other way round), and
the rendered subject is reduced to a single line with control characters removed.  This is the
only module that imports jinja2.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import jinja2

from maildesk.mail.message import sanitize_header_text
from maildesk.mail.patterns import strip_reply_prefix

# ---------------------------------------------------------------------------------------------
# Templates
# ---------------------------------------------------------------------------------------------

_NAME_RE = re.compile(r"^[a-z0-9_]+$")
_LANG_RE = re.compile(r"^[a-z]{2,3}$")
_FALLBACK_LANGUAGE = "en"
# A value shown in a subject line is cut to this many characters.  A resident can send a
# subject of any length; echoing a megabyte back in our reply would make the reply bounce.
SUBJECT_VALUE_MAX_CHARS = 500
def _finalize(value: Any) -> Any:
    # Optional values (code=None, resident_name=None) print as nothing instead of "None".
    return "" if value is None else value


class Templates:
    """Per-language plain-text mail templates.

    ``render`` is called for every incoming mail, so compiled templates are cached in a dict
    keyed by (name, language) and the files are never stat'ed again after the first use
    (jinja's ``auto_reload`` is off).  Restart the process to pick up edited templates.
    """

    def __init__(self, directory: Path) -> None:
        directory = Path(directory)
        if not directory.is_dir():
            raise FileNotFoundError(f"templates directory not found: {directory}")
        self.directory = directory
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(directory), encoding="utf-8"),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            keep_trailing_newline=True,
            # text/plain: HTML escaping would put "&amp;" into residents' mail.  Injection into
            # headers is handled by sanitising the rendered subject, not by escaping.
            autoescape=False,
            auto_reload=False,
            finalize=_finalize,
        )
        self._env.filters["strip_reply_prefix"] = strip_reply_prefix
        self._cache: dict[tuple[str, str], tuple[jinja2.Template, jinja2.Template]] = {}
        self._html: jinja2.Environment | None = None

    @staticmethod
    def _check_name(name: str) -> str:
        name = name.removesuffix(".txt")
        if not _NAME_RE.match(name):
            raise ValueError(f"bad template name: {name!r}")
        return name

    @staticmethod
    def _normalize_language(language: str | None) -> str:
        # "bn-IN", "hi_IN", "MR" -> "bn", "hi", "mr".  Anything odd (and anything that could
        # escape the directory) falls back to English.
        lang = (language or "").strip().lower().replace("_", "-").split("-", 1)[0]
        return lang if _LANG_RE.match(lang) else _FALLBACK_LANGUAGE

    def _path(self, name: str, language: str) -> Path:
        return self.directory / language / f"{name}.txt"

    def has(self, name: str, language: str) -> bool:
        """True if ``templates/<language>/<name>.txt`` itself exists (no English fallback)."""
        return self._path(self._check_name(name), self._normalize_language(language)).is_file()

    def _load(self, name: str, lang: str) -> tuple[jinja2.Template, jinja2.Template]:
        key = (name, lang)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        source_lang = lang if self._path(name, lang).is_file() else _FALLBACK_LANGUAGE
        if source_lang != lang and (name, source_lang) in self._cache:
            pair = self._cache[(name, source_lang)]
        else:
            pair = self._compile(name, source_lang)
        self._cache[key] = pair
        return pair

    def _compile(self, name: str, lang: str) -> tuple[jinja2.Template, jinja2.Template]:
        rel = f"{lang}/{name}.txt"
        loader = self._env.loader
        assert loader is not None
        source, filename, _ = loader.get_source(self._env, rel)  # raises TemplateNotFound
        source = source.removeprefix("\ufeff")  # a BOM left by a Windows editor
        first, sep, rest = source.partition("\n")
        if not first.startswith("Subject:") or not sep:
            raise jinja2.TemplateSyntaxError("first line must be 'Subject: ...'", 1, rel, filename)
        second, _, body = rest.partition("\n")
        if second.strip():
            raise jinja2.TemplateSyntaxError(
                "second line must be blank (it separates subject and body)", 2, rel, filename
            )
        subject_src = first[len("Subject:") :].strip()
        # The comment spans lines 1-2 and trim_blocks eats its newline, so jinja's error
        # messages report the same line numbers as the file.
        body_src = "{#\n#}\n" + body
        return (
            self._from_source(subject_src, f"{rel}#subject", filename),
            self._from_source(body_src, rel, filename),
        )

    def _from_source(self, source: str, name: str, filename: str | None) -> jinja2.Template:
        code = self._env.compile(source, name, filename)
        return self._env.template_class.from_code(self._env, code, self._env.globals, None)

    def render(self, name: str, language: str, **context: Any) -> tuple[str, str]:
        """Render template ``name`` in ``language`` and return ``(subject, body)``.

        Falls back to English when ``templates/<language>/<name>.txt`` is missing.  The
        subject is one line without control characters; every string value used by the
        subject line is cut to :data:`SUBJECT_VALUE_MAX_CHARS` characters.
        """
        lang = self._normalize_language(language)
        subject_tpl, body_tpl = self._load(self._check_name(name), lang)
        subject_ctx = {
            k: (v[:SUBJECT_VALUE_MAX_CHARS] + "…")
            if isinstance(v, str) and len(v) > SUBJECT_VALUE_MAX_CHARS
            else v
            for k, v in context.items()
        }
        subject = sanitize_header_text(subject_tpl.render(subject_ctx)).strip()
        return subject, body_tpl.render(context)

    def render_html(self, name: str, language: str, **context: Any) -> str:
        """An HTML template (``<lang>/<name>.html``), auto-escaped: the digest."""
        if self._html is None:
            self._html = jinja2.Environment(
                loader=jinja2.FileSystemLoader(str(self.directory), encoding="utf-8"),
                autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                lstrip_blocks=True, keep_trailing_newline=True, auto_reload=False,
            )
        lang = self._normalize_language(language)
        return self._html.get_template(f"{lang}/{self._check_name(name)}.html").render(context)


def default_templates_dir() -> Path:
    """Where the templates live.

    Order: ``$MAILDESK_TEMPLATES``; ``maildesk/templates`` (package data once the wheel
    ships it); the checkout's top-level ``templates/`` next to the package.
    """
    override = os.environ.get("MAILDESK_TEMPLATES")
    if override:
        return Path(override)
    package_dir = Path(__file__).resolve().parent.parent  # maildesk/
    bundled = package_dir / "templates"
    if bundled.is_dir():
        return bundled
    return package_dir.parent / "templates"
