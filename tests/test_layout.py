"""The house rules, checked on the source tree: every concern in its own room.

All SQL lives in maildesk/store/; each third-party library is used from the room that owns
it; the shapes of mail (codes, "Re:" prefixes) are written once, in maildesk/mail/patterns.py.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("maildesk", "maildesk_demo")

# SQL as it is written in string literals: a statement keyword followed by its second word.
SQL = re.compile(
    r"\b(SELECT\s+[\w*(].*?\bFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|"
    r"CREATE\s+(TABLE|INDEX|VIEW|TRIGGER)|ALTER\s+TABLE|PRAGMA\s+\w+|BEGIN\s+IMMEDIATE)\b",
    re.DOTALL,
)

# Which room may import which library. A new dependency gets a line here and in the README.
ROOMS: dict[str, tuple[str, ...]] = {
    "sqlite3": ("maildesk/store/",),
    "sqlite_utils": ("maildesk/store/",),
    "imapclient": ("maildesk/intake/", "maildesk_demo/"),
    "aiosmtplib": ("maildesk/mail/smtp.py",),
    "jinja2": ("maildesk/mail/templates.py", "maildesk/web/app.py"),
    "yaml": ("maildesk/config/yamlfile.py", "maildesk_demo/"),
    "apscheduler": ("maildesk/daemon.py",),
    "dotenv": ("maildesk/config/settings.py",),
    "inscriptis": ("maildesk/mail/",),
    "mailparser_reply": ("maildesk/mail/",),
    "quotequail": ("maildesk/mail/",),
    "lxml": ("maildesk/mail/",),
    "langdetect": ("maildesk/mail/language.py",),
    "click": ("maildesk/cli.py",),
    "starlette": ("maildesk/web/",),
    "uvicorn": ("maildesk/web/",),
    "authres": ("maildesk/officer/",),
    "authlib": ("maildesk/mail/oauth.py",),
    "prometheus_client": ("maildesk/metrics.py",),
    "numpy": ("maildesk/triage/model.py",),
    "sklearn": ("maildesk/triage/model.py",),  # training the second opinion only
    "scipy": ("maildesk/triage/model.py",),  # scikit-learn's sparse matrices, the same
    "argon2": ("maildesk/web/auth.py",),
    "aiosmtpd": ("maildesk_demo/",),
    "pymap": ("maildesk_demo/",),
    "pysasl": ("maildesk_demo/",),
    "proxyprotocol": ("maildesk_demo/",),
}


def sources() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py"))


def relative(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def string_literals(tree: ast.AST) -> list[tuple[int, str]]:
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings]


def imported_roots(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def test_sql_is_written_only_in_the_store():
    outside = [f"{relative(path)}:{line}: {text.strip()[:60]!r}"
               for path in sources() if not relative(path).startswith("maildesk/store/")
               for line, text in string_literals(ast.parse(path.read_text()))
               if SQL.search(text)]
    assert outside == []


def test_the_sql_check_finds_sql():
    # The check above must be able to fail: it sees a query in a string and ignores prose.
    tree = ast.parse('q = "SELECT id FROM complaints"\nn = "update the resident set"\n')
    assert [t for _, t in string_literals(tree) if SQL.search(t)] == ["SELECT id FROM complaints"]


def test_each_library_is_used_from_its_own_room():
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    strays = []
    for path in sources():
        where = relative(path)
        for line, root in imported_roots(ast.parse(path.read_text())):
            if root in stdlib or root in PACKAGES:
                continue
            rooms = ROOMS.get(root)
            if rooms is None:
                strays.append(f"{where}:{line}: {root} has no room (add it to ROOMS and README)")
            elif not where.startswith(rooms):
                strays.append(f"{where}:{line}: {root} belongs in {', '.join(rooms)}")
    assert strays == []


def test_codes_and_reply_prefixes_are_written_once():
    # The complaint code's shape, the station code's and the "Re:"/"Fwd:" alternatives appear
    # only in patterns.py.
    shapes = re.compile(r"\\d\{4\}-\\d\{4|\(\?:re\|aw|fwd\?\|wg|\[A-Z\]\{2,6\}")
    elsewhere = [f"{relative(path)}:{line}"
                 for path in sources() if relative(path) != "maildesk/mail/patterns.py"
                 for line, text in string_literals(ast.parse(path.read_text()))
                 if shapes.search(text)]
    assert elsewhere == []
    assert shapes.search((REPO / "maildesk/mail/patterns.py").read_text())
