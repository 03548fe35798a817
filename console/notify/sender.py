"""The leader's sender of the outbox (``deliveries``, issue #28).

Only the leader sends (``LiveScheduler`` starts it on election and stops it on stepping down), on
a thread of its own, never inside a job's transaction. Each pass:

1. gives up what waited too long: a row still not sent ``delivery.give_up_after`` after it was
   written is ``failed`` (a log line per channel, a line in the log of the run that queued it,
   the metrics, ``deliveries list``, the console's ``d`` view);
2. for each channel, on its own thread, for at most ``PASS_S`` (a channel that is down, or slow,
   holds up the others' next pass by no more than that or one send's deadline), claims the next
   unit that is due: up to ``BATCH`` rows, each to be sent alone, or for a digest channel
   (or rows held by quiet hours) every due row of that room or handler, as one message. Claiming
   marks the rows ``sending`` with ``claimed_by`` and a lease (``claimed_until``) and commits
   (``FOR UPDATE SKIP LOCKED`` on PostgreSQL);
3. sends through Apprise (each send within its deadline, ``2 × delivery.send_timeout``; a send
   still going then keeps its rows ``sending`` and its channel idle until it ends, and its rows
   are marked by how it ended: sent, or back to pending with the error) and, after each send, marks what it sent ``sent`` and renews the lease of
   the rest (or, if the send failed, puts it back to ``pending`` with the error and a backoff of 2,
   4, ... seconds, at most a minute, and releases the rest of the unit).

**Marked before and after the send.** A sender that dies between a send and the mark after it
(kill -9, a lost leader) leaves that row (or digest) ``sending``; once the lease has passed the
next leader's sender claims it again and sends it again: what was in flight at a crash is sent at
most once more; the rest of its unit was never sent and goes once. A row marked ``sent`` is never
claimed again, by any process.

A channel whose send failed is not tried again within its backoff (at most a minute), so a
channel that comes back has its backlog sent within a minute or two, while the others go on.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from sqlalchemy import Engine, and_, func, or_, select, true, update

from console.db.engine import describe_error
from console.db.models import Delivery, JobRun, RunLogLine
from console.domain.deliveries import ChannelTarget, DeliveryState, backoff
from console.notify import apprise_send, messages
from console.notify.apprise_send import DeliveryError, StillSending
from console.settings import ChannelSettings, Settings

log = logging.getLogger("console.notify")
D = Delivery.__table__
POLL_S = 2.0
PASS_S = 5.0  # a channel's share of a pass; the next pass (at once) goes on where this one stopped
BATCH = 20  # rows claimed at once, each sent alone and marked after its send
HOST = socket.gethostname()[:255]

# send(url, message, timeout_s, secrets): raises DeliveryError when it did not go.
Transport = Callable[[str, messages.Message, float, list], None]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def node_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class _Late:
    """A send past its deadline whose thread goes on: the rows it carries, marked when it ends."""

    thread: threading.Thread
    outcome: dict[str, Any]
    error: str
    which: Any = None
    count: int = 0


class DeliverySender:
    def __init__(self, settings: Settings, engine: Engine, *, clock: Callable[[], datetime] = utcnow,
                 transport: Transport = apprise_send.send, may_send: Callable[[], bool] | None = None):
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.transport = transport
        self.may_send = may_send or (lambda: True)
        self.node = node_name()
        timeout = settings.delivery.send_timeout
        # A claim outlives a slow send (twice its timeout) and no more: after a crash the unit is
        # claimed again within half a minute (default timeout).
        self.lease = timeout * 2 + timedelta(seconds=10)
        self._resting: dict[str, tuple[datetime, int]] = {}  # channel -> (not before, failures in a row)
        self._late: dict[str, _Late] = {}  # channel -> a send past its deadline, still going
        self._more = False  # a channel's share of the last pass ended with rows still due
        self._until = float("inf")  # claim nothing after this monotonic instant (send_due)
        self._giving_up = True  # the leader's sender gives up what waited too long
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()

    # -- the thread -------------------------------------------------------------------------
    def start(self) -> "DeliverySender":
        if self.settings.delivery_channels and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="delivery-sender", daemon=True)
            self._thread.start()
            log.info("delivery sender started (%d channel(s))", len(self.settings.delivery_channels))
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
        self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception as exc:  # noqa: BLE001 - the database may be down: the next pass tries again
                log.error("delivery pass failed: %s", describe_error(exc, self.engine.url))
            if not self._more:
                self._wake.wait(POLL_S)
            self._wake.clear()

    def send_due(self, timeout_s: float) -> None:
        """Passes, in this thread, until one sends nothing or ``timeout_s`` has passed, claiming
        nothing after it (a command-line run while no process leads: its alerts go before it
        exits; one send started before may take its deadline more). Giving up is the leader's."""
        self._until, self._giving_up = time.monotonic() + timeout_s, False
        try:
            while time.monotonic() < self._until and not self._stopping():
                if not any(self.run_once().values()) and not self._more:
                    return
        finally:
            self._until, self._giving_up = float("inf"), True

    # -- one pass ---------------------------------------------------------------------------
    def run_once(self) -> dict[str, int]:
        """One pass over every channel; returns the units sent per channel."""
        if self._giving_up:
            self.give_up()
        self._more = False
        channels = [c for c in self.settings.delivery_channels if not self._waiting_on_late(c) and
                    not self._resting_now(c.name)]
        if not channels:
            return {}
        if len(channels) == 1:
            return {channels[0].name: self.drain(channels[0])}
        with ThreadPoolExecutor(len(channels), thread_name_prefix="delivery") as pool:
            done = {c.name: pool.submit(self.drain, c) for c in channels}
        return {name: future.result() for name, future in done.items()}

    def _waiting_on_late(self, channel: ChannelSettings) -> bool:
        """Whether a send of ``channel`` past its deadline still goes (one send at a time per
        channel); once it has ended, its rows are marked by how it ended."""
        late = self._late.get(channel.name)
        if late is None:
            return False
        if late.thread.is_alive():
            return True
        del self._late[channel.name]
        if late.which is not None:
            went = late.outcome.get("ok") and "error" not in late.outcome
            self._mark(late.which, None if went else late.error, channel, late.count)
        return False

    def _resting_now(self, name: str) -> bool:
        until = self._resting.get(name)
        return until is not None and self.clock() < until[0]

    def _due(self, now: datetime):
        return or_(and_(D.c.state == DeliveryState.PENDING, D.c.next_try_at <= now),
                   and_(D.c.state == DeliveryState.SENDING, D.c.claimed_until < now))

    def give_up(self) -> int:
        """Rows written longer than ``give_up_after`` ago and still not sent are failed (due ones:
        a row a digest or quiet hours hold is not given up before it was tried): a log line per
        channel, and one in the log of each run that queued some (its screen, ``jobs logs``)."""
        now = self.clock()
        after = self.settings.delivery.give_up_after
        old = and_(self._due(now), D.c.created_at < now - after)
        R = JobRun.__table__
        with self.engine.begin() as conn:
            # One read for both: per channel and run (a row of no run, or of a run retention deleted, has no job).
            groups = conn.execute(
                select(D.c.channel, D.c.run_id, R.c.job_id, func.count(), func.max(D.c.last_error))
                .select_from(D.outerjoin(R, R.c.id == D.c.run_id)).where(old)
                .group_by(D.c.channel, D.c.run_id, R.c.job_id)).all()
            if not groups:
                return 0
            lines = [{"run_id": run_id, "job_id": job_id, "at": now, "level": "ERROR", "logger": log.name,
                      "message": f"deliveries: {n} to channel {channel} given up after {after} "
                                 f"(last error: {error or 'never tried'})"[:8000], "host": HOST, "pid": os.getpid()}
                     for channel, run_id, job_id, n, error in groups if job_id is not None]
            if lines:
                conn.execute(RunLogLine.__table__.insert(), lines)
            conn.execute(update(D).where(old).values(
                state=DeliveryState.FAILED, claimed_by=None, claimed_until=None,
                last_error=func.coalesce(D.c.last_error, "not sent within delivery.give_up_after")))
        per_channel: dict[str, tuple[int, str | None]] = {}
        for channel, _, _, n, error in groups:
            count, last = per_channel.get(channel, (0, None))
            per_channel[channel] = (count + n, max(filter(None, (last, error)), default=None))
        for channel, (count, last_error) in per_channel.items():
            log.error("deliveries: %d to channel %s given up after %s (last error: %s)", count, channel, after,
                      last_error or "never tried")
        return sum(count for count, _ in per_channel.values())

    def drain(self, channel: ChannelSettings) -> int:
        """Send what is due on ``channel`` until none is, a send fails, or the pass's share is done;
        how many messages went."""
        sent, until = 0, min(time.monotonic() + PASS_S, self._until)
        while not self._stopping():
            if time.monotonic() >= until:
                self._more = True  # its share is spent: the next pass begins at once
                break
            token = self.claim(channel)
            if token is None:
                break
            done, ok = self.deliver(channel, token, until)
            sent += done
            if not ok:
                break
        return sent

    def _stopping(self) -> bool:
        return self._stop.is_set() or not self.may_send()

    def _grouped(self, channel: ChannelSettings, held: bool) -> bool:
        return channel.digest is not None or held

    def claim(self, channel: ChannelSettings) -> str | None:
        """Claim the next due unit of ``channel``: up to ``BATCH`` rows each sent alone, or, for a
        digest (or rows quiet hours held), every due row of the room or handler as one message.
        Its token, or None when nothing is due."""
        now = self.clock()
        due = and_(D.c.channel == channel.name, self._due(now))
        first = select(D.c.id, D.c.address, D.c.held).where(due).order_by(D.c.next_try_at, D.c.id).limit(1)
        with self.engine.begin() as conn:
            locking = conn.dialect.name == "postgresql"
            row = conn.execute(first.with_for_update(skip_locked=True) if locking else first).first()
            if row is None:
                return None
            if self._grouped(channel, row.held):
                same = D.c.address.is_(None) if row.address is None else D.c.address == row.address
                unit = and_(due, same, true() if channel.digest is not None else D.c.held.is_(True))
            else:
                batch = (select(D.c.id).where(due, D.c.held.is_(False)).order_by(D.c.next_try_at, D.c.id)
                         .limit(BATCH))
                ids = conn.execute(batch.with_for_update(skip_locked=True) if locking else batch).scalars().all()
                unit = D.c.id.in_(ids)  # the first row among them: this transaction holds its lock
            token = f"{self.node}:{uuid.uuid4().hex[:12]}"
            conn.execute(update(D).where(unit).values(
                state=DeliveryState.SENDING, claimed_by=token, claimed_until=now + self.lease))
        return token

    def deliver(self, channel: ChannelSettings, token: str, until: float = float("inf")) -> tuple[int, bool]:
        """Send the claimed unit, marking each row after its send, until the monotonic instant
        ``until`` (the rest is released); (messages sent, whether no send failed)."""
        mine = and_(D.c.claimed_by == token, D.c.state == DeliveryState.SENDING)
        with self.engine.connect() as conn:
            # A unit of rows sent alone is at most BATCH (< DIGEST_LINES): only a digest counts the rest.
            rows = conn.execute(select(D).where(mine).order_by(D.c.level.nullsfirst(), D.c.deadline, D.c.id)
                                .limit(messages.DIGEST_LINES)).all()
            total = (conn.execute(select(func.count()).where(mine)).scalar_one()
                     if len(rows) == messages.DIGEST_LINES else len(rows))
        if not rows:
            return 0, True
        if self._grouped(channel, rows[0].held):
            message = messages.digest(self.settings, channel, rows, total)
            error = self._send(channel, rows[0], message)
            if not self._held_by_late(channel, mine, total):
                self._mark(mine, error, channel, total)
            return (0, False) if error else (1, True)
        done, error, rest = 0, None, mine
        for i, row in enumerate(rows):
            if i and (self._stopping() or time.monotonic() >= until):
                break
            error = self._send(channel, row, messages.one(self.settings, channel, row))
            if self._held_by_late(channel, D.c.id == row.id, 1):
                rest = and_(mine, D.c.id != row.id)
            else:
                self._mark(D.c.id == row.id, error, channel, 1, rest=mine)
            if error:
                break
            done += 1
        self._release(rest)  # what this unit did not get to: claimed again at once, by whoever leads
        return done, error is None

    def _held_by_late(self, channel: ChannelSettings, which, count: int) -> bool:
        """After a send past its deadline: its rows stay ``sending`` under the claim until it ends."""
        late = self._late.get(channel.name)
        if late is None or late.which is not None:
            return False
        late.which, late.count = which, count
        log.warning("channel %s: %d delivery(ies) past the send's deadline (%s); marked when it ends",
                    channel.name, count, late.error)
        return True

    def _send(self, channel: ChannelSettings, row: Any, message: messages.Message) -> str | None:
        """Send one message; None if it went, else why not (safe to store and show)."""
        address = row.address if channel.to == ChannelTarget.HANDLER else None
        try:
            url, secrets = apprise_send.expand(channel.url, address)
            self.transport(url, message, self.settings.delivery.send_timeout.total_seconds(), secrets)
        except StillSending as exc:
            self._late[channel.name] = _Late(exc.thread, exc.outcome, str(exc))
            return str(exc)
        except DeliveryError as exc:
            return str(exc)
        except Exception as exc:  # noqa: BLE001 - a transport's surprise is a failed send, never the thread's end
            return f"not sent: {type(exc).__name__}"
        return None

    def _mark(self, which, error: str | None, channel: ChannelSettings, count: int, *, rest=None) -> None:
        """After a send: ``which`` rows sent (or back to pending with ``error`` and a backoff); the
        lease of the ``rest`` of the unit renewed."""
        now = self.clock()
        with self.engine.begin() as conn:
            if error is None:
                conn.execute(update(D).where(which, D.c.state == DeliveryState.SENDING).values(
                    state=DeliveryState.SENT, sent_at=now, tries=D.c.tries + 1, claimed_by=None,
                    claimed_until=None, last_error=None))
                if rest is not None:
                    conn.execute(update(D).where(rest).values(claimed_until=now + self.lease))
            else:
                _, failures = self._resting.get(channel.name, (now, 0))
                wait = backoff(failures + 1)
                self._resting[channel.name] = (now + wait, failures + 1)
                conn.execute(update(D).where(which, D.c.state == DeliveryState.SENDING).values(
                    state=DeliveryState.PENDING, next_try_at=now + wait, tries=D.c.tries + 1, claimed_by=None,
                    claimed_until=None, last_error=error))
                log.warning("channel %s: %d delivery(ies) not sent (%s); again in %g s", channel.name, count, error,
                            wait.total_seconds())
        if error is None:
            self._resting.pop(channel.name, None)

    def _release(self, mine) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(D).where(mine).values(state=DeliveryState.PENDING, claimed_by=None,
                                                      claimed_until=None))

