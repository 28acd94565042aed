"""Stage: fetch. One pass over one station's INBOX.

The order is what keeps the promise that no mail is lost and none is doubled:
1. mail already recorded (found in the store by UIDVALIDITY and UID) is only moved out;
2. new mail is fetched in batches; its raw bytes are stored, then a few mails at a time are
   recorded, with the checkpoint, in one short transaction (each mail in a savepoint of its
   own, so a mail's record and the outgoing mail it causes commit together or not at all);
3. only after those commits does the batch leave INBOX.
A crash between 2 and 3 leaves recorded mail in INBOX, which the next pass moves (step 1);
after a UIDVALIDITY reset everything is fetched again and the dedupe key catches it.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from maildesk.config.settings import Station
from maildesk.desk import Desk
from maildesk.errors import PermanentError, TemporaryError
from maildesk.faults import crash_point
from maildesk.intake.imap import Mailbox
from maildesk.pipeline import Prepared, prepare, take_mail
from maildesk.sorting.record import Recorded

log = logging.getLogger(__name__)

BATCH = 200  # mails per FETCH, and
BATCH_BYTES = 32 << 20  # bytes per FETCH: ten 20 MB mails are fetched one by one
# One transaction records mails until it has held the store this long: a commit per mail
# costs more than recording a plain one, while the outbox's writes (mark_sent) and the
# other stations must never wait long for the store. Every mark_sent runs inside the send
# window (one for all stations), so each waits up to this long for a backlog's intake:
# 50 ms held a quiet station's acknowledgements at about one every 50 ms.
GROUP_SECONDS = 0.02


def batches(uids: list[int], sizes: dict[int, int], limit: int) -> list[list[int]]:
    """UIDs in FETCH batches of at most BATCH mails and BATCH_BYTES (by RFC822.SIZE); a mail
    bigger than that, or over the size limit, is a batch of its own."""
    out: list[list[int]] = []
    batch: list[int] = []
    total = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        if batch and (len(batch) >= BATCH or total + size > BATCH_BYTES or size > limit):
            out.append(batch)
            batch, total = [], 0
        batch.append(uid)
        total += size
        if size > limit:
            out.append(batch)
            batch, total = [], 0
    if batch:
        out.append(batch)
    return out


@dataclass
class PassResult:
    station: str
    fetched: int = 0
    moved: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    error: str | None = None
    refused: bool = False  # the login was refused (else the server could not be reached)


def intake_pass(desk: Desk, station: Station, mailbox: Mailbox,
                stop_requested: object = None,
                after_batch: Callable[[], None] | None = None,
                progress: Callable[[int, int], None] | None = None) -> PassResult:
    """Take in everything waiting in the station's INBOX. `mailbox` must be connected.

    `stop_requested` (anything with is_set(), e.g. a threading.Event) ends the pass after the
    batch in hand, for a clean SIGTERM. `after_batch` is called after each committed batch,
    so that a backlog's first acknowledgements go out before its last mails are read.
    `progress(done, total)` too, with the mails fetched so far of those waiting (`poll --once`
    draws it on a terminal).
    """
    result = PassResult(station.code)
    store = desk.store
    uidvalidity = mailbox.select_inbox()
    checkpoint = store.checkpoint(station.code, station.inbox)
    if checkpoint and checkpoint[0] != uidvalidity:
        log.warning("station %s: UIDVALIDITY changed %s -> %s; fetching everything again",
                    station.code, checkpoint[0], uidvalidity)
    last_uid = checkpoint[1] if checkpoint and checkpoint[0] == uidvalidity else 0
    uids = mailbox.uids()
    # Mail the store already holds was committed by a pass that did not get to move it.
    # Anything else, whatever the checkpoint says, is fetched (the dedupe key keeps it single).
    known = store.known_uids(station.code, uidvalidity, [u for u in uids if u <= last_uid])
    if known:
        mailbox.move_processed(sorted(known))
        result.moved += len(known)
    waiting = [uid for uid in uids if uid not in known]
    sizes = mailbox.sizes(waiting)
    limit = desk.config.max_mail_bytes
    for batch in batches(waiting, sizes, limit):
        over = len(batch) == 1 and sizes.get(batch[0], 0) > limit
        # A mail over the size limit is read only as far as the limit: its text comes
        # first, and the sorting sees its real size (it is recorded as oversize).
        mails = mailbox.fetch(batch, limit if over else None)
        fetched = [uid for uid in batch if uid in mails]  # the others were expunged meanwhile
        with store.files_synced_at_end():  # the raw bytes are on disk before anything else
            shas = store.save_raws([mails[uid] for uid in fetched])
        waiting_mail = list(zip(fetched, shas, strict=True))
        # parsed and classified by worker processes while the mails before are recorded
        prepared = prepare(desk, [mails[uid] for uid in fetched])
        while waiting_mail:
            outcomes = _record_some(desk, station, waiting_mail, mails, uidvalidity,
                                    sizes if over else None, prepared)
            for outcome in outcomes:
                result.kinds[outcome.kind] += 1
                result.duplicates += outcome.duplicate
        result.fetched += len(mails)
        crash_point("after-commit")
        mailbox.move_processed(sorted(mails))
        result.moved += len(mails)
        if after_batch is not None:
            after_batch()
        if progress is not None:
            progress(result.fetched, len(waiting))
        if stop_requested is not None and stop_requested.is_set():  # type: ignore[attr-defined]
            break
    return result


def _record_some(desk: Desk, station: Station, waiting: list[tuple[int, str]],
                 mails: dict[int, bytes], uidvalidity: int,
                 sizes: dict[int, int] | None,
                 prepared: Iterator[Prepared | None]) -> list[Recorded]:
    """Record mails from the front of `waiting` (taking them off it) in one transaction,
    for at most about GROUP_SECONDS, with the checkpoint of the last one."""
    store, outcomes = desk.store, []
    # The first mail's parse may wait for the worker processes (half a second while they
    # start): waited for before the store is held, not inside the transaction.
    ready: list[Prepared | None] = [next(prepared)]
    with store.transaction():
        started = time.monotonic()
        with store.files_synced_at_end():  # attachments too, before the commit
            while waiting and (not outcomes or time.monotonic() - started < GROUP_SECONDS):
                uid, sha = waiting.pop(0)
                outcomes.append(take_mail(desk, station.code, mails[uid], uid, uidvalidity,
                                          sha, sizes.get(uid) if sizes else None,
                                          ready.pop() if ready else next(prepared)))
        store.set_checkpoint(station.code, station.inbox, uidvalidity, uid)
    return outcomes


def poll_station(desk: Desk, station: Station, stop_requested: object = None,
                 after_batch: Callable[[], None] | None = None,
                 quiet: bool = False,
                 progress: Callable[[int, int], None] | None = None) -> PassResult:
    """Connect, take everything in, disconnect; never raises for mailbox trouble."""
    mailbox = Mailbox(station.imap, station.inbox, station.processed_folder)
    try:
        mailbox.connect()
        result = intake_pass(desk, station, mailbox, stop_requested, after_batch,
                             progress)
    except (TemporaryError, PermanentError) as exc:
        # The daemon logs an outage once (outages.py); `poll --once` tells every failure.
        log.log(logging.INFO if quiet else logging.WARNING, "station %s: %s", station.code, exc)
        result = PassResult(station.code, error=str(exc),
                            refused=isinstance(exc, PermanentError))
    finally:
        mailbox.close()
    desk.store.record_poll(station.code, result.error, result.fetched)
    return result
