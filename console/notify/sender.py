"""The leader's sender of the outbox (``deliveries``, issue #28).

Only the leader sends (``LiveScheduler`` starts it on election and stops it on stepping down), on
a thread of its own, never inside a job's transaction. Each pass:

1. gives up what waited too long: a row still not sent ``delivery.give_up_after`` after it was
   written is ``failed`` (a log line per channel, the metrics, ``deliveries list``);
2. for each channel, on its own thread (a channel that is down or slow holds up no other), claims
   the next unit that is due: one row, or for a digest channel (or rows held by quiet hours) every
   due row of that room or handler. Claiming marks the rows ``sending`` with ``claimed_by`` and a
   lease (``claimed_until``) and commits (``FOR UPDATE SKIP LOCKED`` on PostgreSQL);
3. sends the unit through Apprise, then marks its rows ``sent`` (or, if the send failed, back to
   ``pending`` with the error and a backoff of 2, 4, ... seconds, at most a minute).

**Marked before and after the send.** A sender that dies between the send and the mark after it
(kill -9, a lost leader) leaves its unit ``sending``; once the lease has passed the next leader's
sender claims it again and sends it again: a unit in flight at a crash is sent at most once more.
A row marked ``sent`` is never claimed again, by any process.

A channel whose send failed is not tried again within its backoff (at most a minute), so a
channel that comes back has its backlog sent within a minute or two, while the others go on.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from sqlalchemy import Engine, and_, func, or_, select, true, update

from console.db.engine import describe_error
from console.db.models import Delivery
from console.domain.deliveries import ChannelTarget, DeliveryState, backoff
from console.notify import apprise_send, messages
from console.notify.apprise_send import DeliveryError
from console.settings import ChannelSettings, Settings

log = logging.getLogger("console.notify")
D = Delivery.__table__
POLL_S = 2.0
UNITS_PER_PASS = 500  # per channel; the next pass goes on where this one stopped

# send(url, title, body, markdown, timeout_s, secrets): raises DeliveryError when it did not go.
Transport = Callable[[str, str, str, bool, float, list], None]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def node_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


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
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()

    # -- the thread -------------------------------------------------------------------------
    def start(self) -> "DeliverySender":
        if self.settings.channels and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="delivery-sender", daemon=True)
            self._thread.start()
            log.info("delivery sender started (%d channel(s))", len(self.settings.channels))
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
            self._wake.wait(POLL_S)
            self._wake.clear()

    # -- one pass ---------------------------------------------------------------------------
    def run_once(self) -> dict[str, int]:
        """One pass over every channel; returns the units sent per channel."""
        self.give_up()
        channels = [c for c in self.settings.channels if not self._resting_now(c.name)]
        if not channels:
            return {}
        if len(channels) == 1:
            return {channels[0].name: self.drain(channels[0])}
        with ThreadPoolExecutor(len(channels), thread_name_prefix="delivery") as pool:
            done = {c.name: pool.submit(self.drain, c) for c in channels}
        return {name: future.result() for name, future in done.items()}

    def _resting_now(self, name: str) -> bool:
        until = self._resting.get(name)
        return until is not None and self.clock() < until[0]

    def _due(self, now: datetime):
        return or_(and_(D.c.state == DeliveryState.PENDING, D.c.next_try_at <= now),
                   and_(D.c.state == DeliveryState.SENDING, D.c.claimed_until < now))

    def give_up(self) -> int:
        """Rows written longer than ``give_up_after`` ago and still not sent are failed (due ones:
        a row a digest or quiet hours hold is not given up before it was tried)."""
        now = self.clock()
        old = and_(self._due(now), D.c.created_at < now - self.settings.delivery.give_up_after)
        with self.engine.begin() as conn:
            per_channel = conn.execute(select(D.c.channel, func.count(), func.max(D.c.last_error))
                                       .where(old).group_by(D.c.channel)).all()
            if not per_channel:
                return 0
            conn.execute(update(D).where(old).values(
                state=DeliveryState.FAILED, claimed_by=None, claimed_until=None,
                last_error=func.coalesce(D.c.last_error, "not sent within delivery.give_up_after")))
        for channel, count, last_error in per_channel:
            log.error("deliveries: %d to channel %s given up after %s (last error: %s)", count, channel,
                      self.settings.delivery.give_up_after, last_error or "never tried")
        return sum(count for _, count, _ in per_channel)

    def drain(self, channel: ChannelSettings) -> int:
        """Send what is due on ``channel`` until none is, one fails, or the pass's share is done."""
        sent = 0
        while sent < UNITS_PER_PASS and not self._stop.is_set() and self.may_send():
            token = self.claim(channel)
            if token is None:
                break
            if not self.deliver(channel, token):
                break
            sent += 1
        return sent

    def claim(self, channel: ChannelSettings) -> str | None:
        """Claim the next due unit of ``channel``; its token, or None when nothing is due."""
        now = self.clock()
        due = and_(D.c.channel == channel.name, self._due(now))
        first = select(D.c.id, D.c.address, D.c.held).where(due).order_by(D.c.next_try_at, D.c.id).limit(1)
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                first = first.with_for_update(skip_locked=True)
            row = conn.execute(first).first()
            if row is None:
                return None
            if channel.digest is not None or row.held:
                # The unit is every due row of this room (or this handler), the held ones together.
                same = D.c.address.is_(None) if row.address is None else D.c.address == row.address
                unit = and_(due, same, true() if channel.digest is not None else D.c.held.is_(True))
            else:
                unit = D.c.id == row.id
            token = f"{self.node}:{uuid.uuid4().hex[:12]}"
            conn.execute(update(D).where(unit).values(
                state=DeliveryState.SENDING, claimed_by=token, claimed_until=now + self.lease, tries=D.c.tries + 1))
        return token

    def _message(self, conn, channel: ChannelSettings, token: str) -> tuple[messages.Message, Any, int]:
        mine = D.c.claimed_by == token
        total = conn.execute(select(func.count()).where(mine)).scalar_one()
        rows = conn.execute(select(D).where(mine).order_by(D.c.level.nullsfirst(), D.c.deadline, D.c.id)
                            .limit(messages.DIGEST_LINES)).all()
        if total == 1 and not (channel.digest is not None or rows[0].held):
            return messages.one(self.settings, channel, rows[0]), rows[0], total
        return messages.digest(self.settings, channel, rows, total), rows[0], total

    def deliver(self, channel: ChannelSettings, token: str) -> bool:
        """Send the claimed unit and mark it; True if it was sent."""
        with self.engine.connect() as conn:
            message, first, total = self._message(conn, channel, token)
        address = first.address if channel.to == ChannelTarget.HANDLER else None
        try:
            url, secrets = apprise_send.expand(channel.url, address)
            self.transport(url, message.title, message.body, message.markdown,
                           self.settings.delivery.send_timeout.total_seconds(), secrets)
        except DeliveryError as exc:
            self._failed(channel, token, str(exc), total)
            return False
        except Exception as exc:  # noqa: BLE001 - a transport's surprise is a failed send, never the thread's end
            self._failed(channel, token, f"not sent: {type(exc).__name__}", total)
            return False
        with self.engine.begin() as conn:
            conn.execute(update(D).where(D.c.claimed_by == token, D.c.state == DeliveryState.SENDING).values(
                state=DeliveryState.SENT, sent_at=self.clock(), claimed_by=None, claimed_until=None, last_error=None))
        self._resting.pop(channel.name, None)
        log.debug("channel %s: %d delivery(ies) sent", channel.name, total)
        return True

    def _failed(self, channel: ChannelSettings, token: str, error: str, total: int) -> None:
        now = self.clock()
        _, failures = self._resting.get(channel.name, (now, 0))
        wait = backoff(failures + 1)
        self._resting[channel.name] = (now + wait, failures + 1)
        with self.engine.begin() as conn:
            conn.execute(update(D).where(D.c.claimed_by == token, D.c.state == DeliveryState.SENDING).values(
                state=DeliveryState.PENDING, next_try_at=now + wait, claimed_by=None, claimed_until=None,
                last_error=error))
        log.warning("channel %s: %d delivery(ies) not sent (%s); again in %g s", channel.name, total, error,
                    wait.total_seconds())
