"""The life of one incoming mail, as data: `STAGES` names each step in order.

    (fetch and store raw: intake) → parse → dedupe → sort → classify → record

Intake stores the raw bytes first (they are safe on disk before anything runs), then calls
`take_mail` for each mail inside the batch's transaction. `take_mail` runs the stages in a
savepoint of their own, all of them inside one shunt boundary: a mail that makes any stage
fail is rolled back alone and recorded as *shunted* with the reason, and the batch carries on.
`maildesk status` lists shunted mail; `maildesk replay ID` runs one through again after a fix.

A backlog uses the machine's other cores: `prepare` parses and classifies a batch's mails in
worker processes (pure work on the bytes, no store) while this process sorts and records
them in order; what a worker could not do, the stage does here.
"""

from __future__ import annotations

import copyreg
import gc
import logging
import multiprocessing
import os
import threading
import time
import traceback
import types
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from maildesk.desk import Desk
from maildesk.mail.parse import ParsedMail, parse_mail
from maildesk.sorting.record import Incoming, Recorded, recorder_for, starts_complaint
from maildesk.sorting.rules import Context, Sorted, sort_mail
from maildesk.triage.classify import Classification, classify
from maildesk.triage.phrases import Rules, read_rules

log = logging.getLogger(__name__)

PARALLEL_FROM = 40  # mails in a batch; fewer are not worth a worker's start (about 1 s)
CHUNK = 8  # mails per exchange with a worker


@dataclass(frozen=True)
class Prepared:
    """A mail parsed, and classified as if it started a complaint, by a worker."""

    mail: ParsedMail
    verdict: Classification | None  # None: the worker's classification failed


def _mapping_proxy(items: dict) -> types.MappingProxyType:
    return types.MappingProxyType(items)


# A parsed mail's headers are a read-only mapping, which pickle does not know by itself.
copyreg.pickle(types.MappingProxyType, lambda m: (_mapping_proxy, (dict(m),)))

_worker_rules: Rules | None = None
_pool: tuple[Rules, ProcessPoolExecutor] | None = None
_pool_lock = threading.Lock()


def _start_worker(overlay: str, parent: int) -> None:
    """The worker reads the rules itself, from the file the daemon read them from: pickling
    them here (1.8 MB, the model too) would hold the daemon's GIL, and so its event loop,
    for a fifth of a second or more."""
    global _worker_rules  # noqa: PLW0603 - the worker process's one configuration
    _worker_rules = read_rules(Path(overlay) if overlay else None)
    # The policy's trie and model (~37,000 objects) live as long as the worker: kept out of
    # the collector's full walks, which pause the mail in hand (26 ms in bench/triage.py).
    gc.freeze()
    threading.Thread(target=_end_with, args=(parent,), daemon=True).start()


def _end_with(parent: int) -> None:
    """A worker whose daemon was killed (SIGKILL, OOM) would wait for work forever, holding
    the daemon's log pipe: it ends within a second of its parent."""
    while os.getppid() == parent:
        time.sleep(1)  # polling: a dead parent sends no word
    os._exit(0)


def _prepare_one(raw: bytes) -> Prepared:
    mail = parse_mail(raw)  # never raises
    try:
        verdict = classify(_worker_rules, mail.subject, mail.text) if _worker_rules else None
    except Exception:  # noqa: BLE001 - the triage stage tries again, inside the shunt boundary
        verdict = None
    return Prepared(mail, verdict)


def _workers(rules: Rules) -> ProcessPoolExecutor | None:
    """The worker processes for these rules (new ones after a reload changed them)."""
    global _pool  # noqa: PLW0603 - one pool per process, shared by the stations' threads
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if (cores or 1) < 2:
        return None
    with _pool_lock:
        if _pool is not None and _pool[0] is not rules:
            _pool[1].shutdown(wait=False)
            _pool = None
        if _pool is None:
            # spawn, not fork: this process has threads (stations, the store's writers)
            pool = ProcessPoolExecutor(max_workers=(cores or 2) - 1, initializer=_start_worker,
                                       initargs=(rules.overlay, os.getpid()),
                                       mp_context=multiprocessing.get_context("spawn"))
            _pool = (rules, pool)
        return _pool[1]


def prepare(desk: Desk, raws: list[bytes]) -> Iterator[Prepared | None]:
    """Each mail parsed and classified by the workers, in order, as they finish; None for
    each mail when the batch is too small to be worth it or the workers are lost."""
    pool = _workers(desk.config.rules) if len(raws) >= PARALLEL_FROM else None
    if pool is None:
        yield from (None for _ in raws)
        return
    done = 0
    try:
        for prepared in pool.map(_prepare_one, raws, chunksize=CHUNK):
            done += 1
            yield prepared
    except Exception as exc:  # noqa: BLE001 - a worker died (killed, out of memory)
        log.warning("parsing workers lost (%s); the rest of the batch is parsed here",
                    type(exc).__name__)
        _forget_workers()
        yield from (None for _ in raws[done:])


def _forget_workers() -> None:
    global _pool  # noqa: PLW0603
    with _pool_lock:
        if _pool is not None:
            _pool[1].shutdown(wait=False)
        _pool = None


@dataclass
class Work:
    """One mail on its way through the stages; each stage fills in its part."""

    station_code: str
    raw: bytes
    sha256: str
    uid: int | None
    uidvalidity: int | None
    mail: ParsedMail | None = None
    item: Incoming | None = None
    decision: Sorted | None = None
    verdict: Classification | None = None
    result: Recorded | None = None  # set by the stage that finishes the mail
    size: int | None = None  # the size on the server, when `raw` is only the start of it
    prepared: Prepared | None = None  # parsed and classified by a worker already


def dedupe_key(mail: ParsedMail, sha256: str) -> str:
    """Two arrivals of one mail share a Message-ID; without one, the bytes decide."""
    return f"mid:{mail.message_id}" if mail.message_id else f"sha:{sha256}"


def parse(desk: Desk, work: Work) -> None:
    work.mail = work.prepared.mail if work.prepared else parse_mail(work.raw)
    size = work.size if work.size is not None else len(work.raw)
    work.item = Incoming(desk.station(work.station_code), work.sha256, size,
                         dedupe_key(work.mail, work.sha256), work.uid, work.uidvalidity)


def dedupe(desk: Desk, work: Work) -> None:
    """A mail already recorded (redelivered, or fetched again after a crash) ends here."""
    assert work.item is not None
    seen = desk.store.find_message(work.station_code, work.item.dedupe_key)
    if seen is not None:
        work.result = Recorded(seen["kind"], seen["id"], None, duplicate=True)


def sort(desk: Desk, work: Work) -> None:
    assert work.item is not None and work.mail is not None
    ctx = Context(desk.config, work.item.station, work.item.size, desk.store, desk.clock.now())
    work.decision = sort_mail(work.mail, ctx)


def triage(desk: Desk, work: Work) -> None:
    """Only a mail that starts a complaint is classified (an oversize one may still be an
    emergency)."""
    assert work.decision is not None and work.mail is not None
    if starts_complaint(work.decision.kind):
        ready = work.prepared.verdict if work.prepared else None
        work.verdict = ready or classify(desk.config.rules, work.mail.subject, work.mail.text)


def record(desk: Desk, work: Work) -> None:
    assert work.item is not None and work.mail is not None and work.decision is not None
    recorder = recorder_for(work.decision.kind)
    work.result = recorder(desk, work.item, work.mail, work.decision, work.verdict)


Stage = Callable[[Desk, Work], None]
STAGES: tuple[tuple[str, Stage], ...] = (
    ("parse", parse),
    ("dedupe", dedupe),
    ("sort", sort),
    ("classify", triage),
    ("record", record),
)


def take_mail(desk: Desk, station_code: str, raw: bytes, uid: int | None = None,
              uidvalidity: int | None = None, sha: str | None = None,
              size: int | None = None, prepared: Prepared | None = None) -> Recorded:
    """Run one mail through every stage. Call inside `desk.store.transaction()`.
    `sha` says the raw bytes are stored already (a batch is stored at once); `size` is the
    mail's size on the server when intake fetched only its first max_mail_bytes; `prepared`
    is the workers' parse and classification of these bytes (see `prepare`)."""
    store = desk.store
    if sha is None:
        sha = store.save_raw(raw)  # the bytes are safe on disk before anything else happens
    work = Work(station_code, raw, sha, uid, uidvalidity, size=size, prepared=prepared)
    stage_name = STAGES[0][0]
    try:
        with store.savepoint():
            for name, stage in STAGES:
                stage_name = name  # named in the shunt's reason if this stage fails
                stage(desk, work)
                if work.result is not None:
                    if not work.result.duplicate:
                        # One journal line per mail: station, kind, complaint code; never
                        # the resident's words or address.
                        log.info("station %s: message %d recorded: %s%s", station_code,
                                 work.result.message_row, work.result.kind,
                                 f" {work.result.code}" if work.result.code else "")
                    return work.result
        raise RuntimeError("no stage recorded the mail")
    except Exception as exc:  # noqa: BLE001 - the one place a bad mail is set aside
        return _shunt(desk, work, stage_name, exc)


def _shunt(desk: Desk, work: Work, stage_name: str, exc: Exception) -> Recorded:
    # The type only: an exception's message may quote the mail, which stays out of logs.
    log.error("station %s: mail %s shunted at %s (%s); `maildesk status` shows the reason",
              work.station_code, work.sha256[:12], stage_name, type(exc).__name__)
    mail = work.mail
    key = work.item.dedupe_key if work.item else f"sha:{work.sha256}"
    with desk.store.savepoint():
        row = desk.store.add_message(
            station=work.station_code, dedupe_key=key, sha256=work.sha256, size=len(work.raw),
            message_id=mail.message_id if mail else None, uidvalidity=work.uidvalidity,
            uid=work.uid, from_addr=mail.from_addr if mail else None,
            subject=mail.subject if mail else None, kind="shunted",
            reason=f"{stage_name}: {type(exc).__name__}: {exc}",
            parse_error=traceback.format_exc(limit=5),
        )
    return Recorded("shunted", row)


def replay(desk: Desk, message_row: int) -> Recorded:
    """Run a shunted mail through the stages again (after a fix). Its shunted record makes way
    for the new one in the same transaction, so the mail is never recorded twice; if it fails
    again it is shunted again, with the new reason."""
    store = desk.store
    row = store.message(message_row)
    if row is None or row["kind"] != "shunted":
        raise ValueError(f"message {message_row} is not a shunted mail")
    raw = store.read_raw(row["sha256"])
    with store.transaction():
        store.delete_message(message_row)
        return take_mail(desk, row["station"], raw, row["uid"], row["uidvalidity"],
                         row["sha256"])
