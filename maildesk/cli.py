"""The `maildesk` command: a thin click layer over the package's functions."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from maildesk.clock import Clock
from maildesk.config.settings import Config, load_config
from maildesk.errors import ConfigError

log = logging.getLogger("maildesk")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("apscheduler", "imapclient", "aiosmtplib", "mail.log"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on stderr when it is a terminal; nothing at all in a pipe or a log.
    `update(done, total)` may come from several threads, and the total may grow."""
    if not sys.stderr.isatty():
        yield None
        return
    bars: list = []
    lock = threading.Lock()

    def update(done: int, total: int) -> None:
        with lock:
            if not bars:
                bars.append(click.progressbar(length=total, label=label, file=sys.stderr,
                                              show_pos=True).__enter__())
            bar = bars[0]
            bar.length, bar.finished = max(total, done), False
            bar.update(done - bar.pos)

    try:
        yield update
    finally:
        if bars:
            bars[0].__exit__(None, None, None)


def _per_station(update: Callable[[int, int], None] | None
                 ) -> Callable[[str, int, int], None] | None:
    """One bar for all stations' passes: the sums of what each has fetched and had waiting."""
    if update is None:
        return None
    counts: dict[str, tuple[int, int]] = {}
    lock = threading.Lock()

    def told(station: str, done: int, total: int) -> None:
        with lock:
            counts[station] = (done, total)
            update(sum(d for d, _ in counts.values()), sum(t for _, t in counts.values()))

    return told


def _config(ctx: click.Context, secrets: bool = True) -> Config:
    return load_config(ctx.obj["config"], secrets=secrets)


class _Group(click.Group):
    """A configuration error (at start, or a data directory in use) ends any command with
    its message and exit code 1, not a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_Group)
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              help="stations.yaml (default: $MAILDESK_CONFIG or config/stations.yaml)")
@click.option("-v", "--verbose", is_flag=True, help="Log debugging detail.")
@click.version_option(package_name="maildesk")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None, verbose: bool) -> None:
    """maildesk: every police station's email address as an accountable complaint desk."""
    # A caller (a test) may hand in a clock through `obj`; otherwise the real one.
    clock = (ctx.obj or {}).get("clock") or Clock()
    ctx.obj = {"config": config_path, "verbose": verbose, "clock": clock}
    _setup_logging(verbose)


@main.command()
@click.pass_context
def run(ctx: click.Context) -> None:
    """Run the daemon: watch every mailbox, answer, notify, send.

    Example: maildesk --config /etc/maildesk/stations.yaml run
    """
    from maildesk.daemon import run_daemon

    config = _config(ctx)
    # What start-up loaded (configuration, policy, model) lives as long as the daemon: kept
    # out of the collector's full walks, which would pause the event loop each time.
    gc.freeze()
    daemon = run_daemon(config, ctx.obj["config"])
    if config.web.in_daemon:
        from maildesk.web.server import serve_beside

        sys.exit(asyncio.run(serve_beside(config, daemon)))
    sys.exit(asyncio.run(daemon))


@main.command()
@click.option("--once", is_flag=True, required=True, help="One pass, then exit.")
@click.pass_context
def poll(ctx: click.Context, once: bool) -> None:
    """One intake pass over all stations, drain the outbox, exit (for cron and tests).

    Example: maildesk poll --once
    """
    from maildesk.daemon import poll_once

    config = _config(ctx)
    # A first pass over a big mailbox takes a while: a bar of the mails fetched, on a terminal.
    with _progress("poll: mails") as progress:
        report = asyncio.run(poll_once(config, progress=_per_station(progress)))
    for result in report.passes:
        state = f"error: {result.error}" if result.error else "ok"
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(result.kinds.items())) or "no new mail"
        click.echo(f"{result.station}: {result.fetched} fetched ({kinds}); {state}")
    sent = report.sent
    click.echo(f"outbox: {sent.sent} sent, {sent.retrying} to retry, {sent.failed} failed")
    # For cron: a mailbox not read, or mail that did not go out (failed, or left to retry
    # because the SMTP server refused the login or was down), is a failed run.
    if any(r.error for r in report.passes) or sent.failed or sent.retrying:
        for error in dict.fromkeys(sent.errors):
            click.echo(f"outbox error: {error}", err=True)
        sys.exit(1)


@main.command()
@click.option("--once", is_flag=True, required=True, help="One sweep, then exit.")
@click.pass_context
def escalate(ctx: click.Context, once: bool) -> None:
    """One escalation sweep and mailbox health check, send the alerts, exit.

    Example: maildesk escalate --once
    """
    from maildesk.sweeps.escalate import escalate_once

    sweep, health, sent = asyncio.run(escalate_once(_config(ctx)))
    click.echo(f"{sweep.looked_at} open complaints; {len(sweep.sent)} alerts, "
               f"{len(health.alerts)} mailbox alerts; outbox: {sent.sent} sent, "
               f"{sent.retrying} to retry, {sent.failed} failed")
    for key in [*sweep.sent, *health.alerts]:
        click.echo(f"  {key}")


@main.command()
@click.pass_context
def check(ctx: click.Context) -> None:
    """Validate the configuration and log in to every mailbox and SMTP server.

    Example: maildesk check
    """
    from maildesk.config.login_check import check_servers

    config = _config(ctx)
    click.echo(f"configuration {config.path}: ok, {len(config.stations)} stations, "
               f"{len(config.zones)} zones, {len(config.rules.phrases)} phrases")
    rows = asyncio.run(check_servers(config))
    width = max(len(r[0]) for r in rows)
    click.echo(f"{'station':<{width}}  {'imap':<30}  smtp")
    for code, imap, smtp in rows:
        click.echo(f"{code:<{width}}  {imap:<30}  {smtp}")
    rules = config.rules
    if rules.overlay:  # the station's own rules on top of the shipped triage policy
        click.echo(f"triage policy {rules.source}, with {rules.overlay}:")
        for change in rules.changes or ("(adds and changes nothing)",):
            click.echo(f"  {change}")
    else:
        click.echo(f"triage policy {rules.source} (no station rules file)")
    if any(not (i.startswith("ok") and s.startswith("ok")) for _, i, s in rows):
        sys.exit(1)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file per line.")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_context
def inspect(ctx: click.Context, as_json: bool, files: tuple[Path, ...]) -> None:
    """Dry run of parse, sort and classify on mail files (no database, no server).

    Example: maildesk inspect --json tests/mail/*.eml
    """
    from maildesk.dry_run import inspect_file

    config = _config(ctx, secrets=False)
    for path in files:
        report = inspect_file(config, path)
        if as_json:
            click.echo(json.dumps(report, ensure_ascii=False))
            continue
        click.echo(f"== {report['file']}")
        if "kind" not in report:
            click.echo(f"   error: {report['error']}")
            continue
        click.echo(f"   {report['kind_name']} ({report['why']}); language {report['language']}")
        click.echo(f"   {report['urgency']}: " + "; ".join(report["reasons"]))
        if report.get("error"):
            click.echo(f"   parse error: {report['error']}")


@main.command()
@click.option("--keep", type=click.Path(path_type=Path), default=None,
              help="Keep the demo's data directory here instead of a temporary one.")
def demo(keep: Path | None) -> None:
    """The whole flow on this machine: local mail servers, sample mails, no root, no config.

    Example: maildesk demo
    """
    from maildesk_demo.demo import run_demo

    sys.exit(run_demo(keep))


@main.command()
@click.argument("code")
@click.pass_context
def show(ctx: click.Context, code: str) -> None:
    """A complaint, its messages, events and the mail sent about it.

    Example: maildesk show BHL-2611-0007
    """
    from maildesk.desk import Desk
    from maildesk.reports.cli_views import show_complaint

    desk = Desk.open(_config(ctx, secrets=False), clock=ctx.obj["clock"])
    text = show_complaint(desk, code)
    desk.close()
    if text is None:
        raise click.ClickException(f"no complaint {code}")
    click.echo(text)


@main.command(name="list")
@click.option("--station", help="Station code, e.g. BHL.")
@click.option("--status", help="received, acknowledged, in_process, incomplete_info, "
              "transferred, closed, or open (all but closed).")
@click.option("--urgency", type=click.Choice(["urgent", "semi-urgent", "non-urgent"]))
@click.option("--overdue", is_flag=True, help="Only those past a service-level deadline.")
@click.option("--limit", default=100, show_default=True)
@click.pass_context
def list_(ctx: click.Context, station: str | None, status: str | None, urgency: str | None,
          overdue: bool, limit: int) -> None:
    """Complaints, newest first.

    Example: maildesk list --station BHL --status open --urgency urgent
    """
    from maildesk.desk import Desk
    from maildesk.reports.cli_views import list_complaints

    desk = Desk.open(_config(ctx, secrets=False), clock=ctx.obj["clock"])
    for line in list_complaints(desk, station, status, urgency, overdue, limit):
        click.echo(line)
    desk.close()


@main.command()
@click.option("--zone", required=True, help="Zone code, e.g. KOL-NE.")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="The digest's day, YYYY-MM-DD (default: the last day whose digest time "
              "has passed).")
@click.option("--print", "print_", is_flag=True, help="Write the plain-text digest to stdout.")
@click.option("--html", "html_path", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="With --print: also write the HTML digest to this file.")
@click.option("--send", is_flag=True,
              help="Queue it for the zone's DCP (once per zone and day) and send the outbox.")
@click.pass_context
def digest(ctx: click.Context, zone: str, day: object, print_: bool, html_path: Path | None,
           send: bool) -> None:
    """The daily digest of a zone for its DCP: print it, or send it (once per zone and day).

    Example: maildesk digest --zone KOL-NE --date 2026-11-23 --print --html digest.html
    """
    from maildesk.desk import Desk
    from maildesk.mail.send import drain_outbox
    from maildesk.reports.digest import build_digest, latest_day, queue_digest, render_digest

    if print_ == send:
        raise click.UsageError("give one of --print or --send")
    if html_path and not print_:
        raise click.UsageError("--html goes with --print")
    config = _config(ctx, secrets=send)
    if zone not in {z.code for z in config.zones}:
        zones = ", ".join(z.code for z in config.zones)
        raise click.ClickException(f"no zone {zone!r}; zones are {zones}")
    desk = Desk.open(config, clock=ctx.obj["clock"])
    try:
        when = day.date() if day else latest_day(desk)  # type: ignore[attr-defined]
        if print_:
            _, text, html = render_digest(desk, build_digest(desk, zone, when))
            click.echo(text, nl=False)
            if html_path:
                html_path.write_text(html, encoding="utf-8")
            return
        queued = queue_digest(desk, zone, when)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        desk.close()
    click.echo(f"digest {zone} {when}: " + ("queued" if queued else "already queued before"))
    try:
        # sending is the running daemon's job, if any
        desk = Desk.open(config, intake=True, clock=ctx.obj["clock"])
    except ConfigError:
        click.echo("maildesk is running: it sends the outbox")
        return
    try:
        sent = asyncio.run(drain_outbox(desk))
    finally:
        desk.close()
    click.echo(f"outbox: {sent.sent} sent, {sent.retrying} to retry, {sent.failed} failed")
    if sent.failed:
        sys.exit(1)


@main.command()
@click.option("--month", required=True, help="The month, YYYY-MM (local time).")
@click.option("--zone", default=None, help="Only this zone's stations (default: all).")
@click.option("--format", "fmt", type=click.Choice(["csv", "html", "md"]), required=True,
              help="csv, html or md (Markdown).")
@click.pass_context
def report(ctx: click.Context, month: str, zone: str | None, fmt: str) -> None:
    """The monthly transparency report per station: counts and times, no personal data.

    Example: maildesk report --month 2026-11 --zone KOL-NE --format csv > kol-ne-2026-11.csv
    """
    from maildesk.desk import Desk
    from maildesk.reports.monthly import monthly_report, render_report

    desk = Desk.open(_config(ctx, secrets=False), clock=ctx.obj["clock"])
    try:
        with _progress("report: complaints") as progress:
            rows = monthly_report(desk, month, zone, progress)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    except KeyError:
        zones = ", ".join(z.code for z in desk.config.zones)
        raise click.ClickException(f"no zone {zone!r}; zones are {zones}") from None
    finally:
        desk.close()
    click.echo(render_report(rows, fmt), nl=False)


@main.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Last visit to each mailbox, the outbox backlog, open incidents and recent errors.
    Exits 1 when something is unhealthy (for monitoring), saying what.

    Example: maildesk status
    """
    from maildesk.desk import Desk
    from maildesk.reports.cli_views import desk_problems, desk_status

    desk = Desk.open(_config(ctx, secrets=False), clock=ctx.obj["clock"])
    try:
        for line in desk_status(desk):
            click.echo(line)
        problems = desk_problems(desk)
    finally:
        desk.close()
    click.echo("")
    if not problems:
        click.echo("healthy")
        return
    for problem in problems:
        click.echo(f"UNHEALTHY: {problem}")
    sys.exit(1)


@main.command()
@click.argument("message_id", type=int)
@click.pass_context
def replay(ctx: click.Context, message_id: int) -> None:
    """Run a shunted mail (see `maildesk status`) through the pipeline again, after a fix.
    What it queues is sent by the daemon, or by the next `poll --once`.

    Example: maildesk replay 1234
    """
    from maildesk.desk import Desk
    from maildesk.pipeline import replay as replay_mail

    desk = Desk.open(_config(ctx, secrets=False), clock=ctx.obj["clock"])
    try:
        result = replay_mail(desk, message_id)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        desk.close()
    click.echo(f"message {message_id}: now {result.kind}"
               + (f" ({result.code})" if result.code else "")
               + (f", message {result.message_row}" if result.message_row != message_id else ""))
    if result.kind == "shunted":
        sys.exit(1)


@main.command()
@click.argument("target", type=click.Path(path_type=Path))
@click.pass_context
def backup(ctx: click.Context, target: Path) -> None:
    """Copy the database (online, consistent) and the new raw mails and attachments.

    Example: maildesk backup /var/backups/maildesk
    """
    from maildesk.desk import Desk

    desk = Desk.open(_config(ctx, secrets=False), clock=ctx.obj["clock"])
    with _progress("backup: files") as progress:
        copied = desk.store.backup(target, progress)
    desk.close()
    click.echo(f"database copied to {target / 'maildesk.db'}; {copied['files']} new files "
               f"({copied['bytes']} bytes)")


@main.command()
@click.argument("source", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.pass_context
def restore(ctx: click.Context, source: Path) -> None:
    """Put a `maildesk backup` back into the data directory (maildesk must be stopped).
    The backup is checked first; a database already there is kept, renamed.

    Example: maildesk restore /var/backups/maildesk/2026-11-23
    """
    from maildesk.store.restore import restore as restore_backup

    config = _config(ctx, secrets=False)
    with _progress("restore: files") as progress:
        done = restore_backup(source, config.data_dir, ctx.obj["clock"], progress)
    if done.kept_aside:
        click.echo(f"the database that was there is kept as {done.kept_aside}")
    click.echo(f"restored {done.complaints} complaints, {done.messages} mails into "
               f"{config.data_dir} ({done.files} files copied)")


@main.command(name="overrides")
@click.option("--limit", default=100, show_default=True)
@click.pass_context
def overrides_(ctx: click.Context, limit: int) -> None:
    """Officers' re-classifications and the phrases behind the first urgency, newest first.

    Example: maildesk overrides --limit 20
    """
    from maildesk.desk import Desk
    from maildesk.reports.cli_views import overrides

    desk = Desk.open(_config(ctx, secrets=False), clock=ctx.obj["clock"])
    for line in overrides(desk, limit):
        click.echo(line)
    desk.close()


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_context
def classify(ctx: click.Context, files: tuple[Path, ...]) -> None:
    """Explain the classification of mail files: the urgency and every reason.

    Example: maildesk classify complaint.eml
    """
    from maildesk.dry_run import inspect_file

    config = _config(ctx, secrets=False)
    for path in files:
        report = inspect_file(config, path)
        if "urgency" not in report:
            click.echo(f"{path}: {report['error']}")
            continue
        click.echo(f"{path}: {report['urgency'].replace('_', '-')} "
                   f"(language {report['language']}, score {report['score']:g})")
        for reason in report["reasons"]:
            click.echo(f"  {reason}")


@main.command()
@click.option("--host", default=None, help="Address to listen on (default: web.host, "
              "127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default: web.port, 8080).")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """The DCP dashboard, the resident's status page and the public monthly figures.

    Example: maildesk serve --port 8080
    """
    from maildesk.web.server import serve as run_server

    run_server(_config(ctx, secrets=False), host, port)


@main.command(name="hash-password")
def hash_password_() -> None:
    """Make an argon2 hash for a dashboard account (web.accounts[].password_hash).

    Example: maildesk hash-password
    """
    from maildesk.web.auth import hash_password

    password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    click.echo(hash_password(password))
