"""The outbox as the faces see it (issue #28): the deliveries listed, given-up ones sent again,
a channel tried with one test message, every channel's URL checked, and the counts the metrics
export.

``taskconsole_deliveries_total{channel,state}`` counts the deliveries that ended, ``sent`` or
``failed`` (given up): the rows in that state plus ``delivery_totals``, which keeps what rows no
longer in it counted (a failed row sent again by ``retry`` is counted there first), so the counter
never falls. ``taskconsole_delivery_backlog{channel}`` is a gauge: rows pending or sending.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select, update

from console.db.engine import read_only
from console.db.models import Delivery, DeliveryTotal
from console.domain.deliveries import ChannelTarget, DeliveryState
from console.domain.text import printable
from console.notify import apprise_send, messages
from console.notify.apprise_send import DeliveryError
from console.notify.outbox import add_total
from console.notify.sender import DeliverySender
from console.scheduler.ledger import utcnow
from console.settings import Settings

D = Delivery.__table__
T = DeliveryTotal.__table__
ENDED = (DeliveryState.SENT, DeliveryState.FAILED)
WAITING = (DeliveryState.PENDING, DeliveryState.SENDING)
SAMPLE_ADDRESS = "someone@example.com"  # fills {email} when a personal channel's URL is checked


class DeliveryRefused(Exception):
    """A delivery or channel that cannot be acted on (unknown, not failed): the message says why."""


@dataclass(frozen=True)
class DeliveryInfo:
    id: int
    channel: str
    event: str
    recipient: str  # the address of a personal channel, or "group"
    user_id: int | None
    task_id: int | None
    subject: str | None
    state: str
    tries: int
    last_error: str | None
    created_at: datetime
    next_try_at: datetime
    sent_at: datetime | None


def check_channel_urls(settings: Settings) -> list[tuple[str, str]]:
    """(key, problem) for every channel whose URL Apprise cannot parse, nothing sent; ``${VAR}``
    read from this environment (a variable not set is a problem), ``{email}`` a sample address."""
    problems = []
    for i, channel in enumerate(settings.delivery_channels):
        key = f"channels.{i}.url" if i < len(settings.channels) else "alerts.webhook_url"
        try:
            url, _ = apprise_send.expand(channel.url, SAMPLE_ADDRESS if channel.to == ChannelTarget.HANDLER else None)
        except DeliveryError as exc:
            problems.append((key, f"channel {channel.name}: {exc}"))
            continue
        if not apprise_send.parses(url):
            problems.append((key, f"channel {channel.name}: Apprise cannot parse this URL (its scheme "
                                  f"{printable(url.split('://', 1)[0])!r} or its form)"))
    return problems


def send_test_message(settings: Settings, name: str, address: str | None = None) -> str:
    """Send one test message on channel ``name`` (to ``address`` for a personal channel), now,
    outside the outbox; what it was sent to, in words; DeliveryRefused (the reason) if it did not go."""
    channel = next((c for c in settings.delivery_channels if c.name == name), None)
    if channel is None:
        known = ", ".join(c.name for c in settings.delivery_channels) or "none in the settings"
        raise DeliveryRefused(f"no channel is named {printable(name)!r} (channels: {known})")
    if channel.to == ChannelTarget.HANDLER and not address:
        raise DeliveryRefused(f"channel {name} is personal (to: handler): say whom with --to ADDRESS")
    message = messages.test_message(channel)
    try:
        url, secrets = apprise_send.expand(channel.url, address if channel.to == ChannelTarget.HANDLER else None)
        apprise_send.send(url, message, settings.delivery.send_timeout.total_seconds(), secrets)
    except DeliveryError as exc:
        raise DeliveryRefused(f"channel {name}: not sent: {exc}") from None
    return f"channel {name}" + (f" to {printable(address)}" if address and channel.to == ChannelTarget.HANDLER else "")


class Deliveries:
    def __init__(self, engine: Engine, settings: Settings):
        self.engine, self.settings = engine, settings

    def list(self, *, state: str | None = None, channel: str | None = None, limit: int = 200) -> list[DeliveryInfo]:
        """The newest first."""
        query = select(D).order_by(D.c.id.desc()).limit(limit)
        if state:
            query = query.where(D.c.state == state)
        if channel:
            query = query.where(D.c.channel == channel)
        with read_only(self.engine).connect() as conn:
            rows = conn.execute(query).all()
        return [DeliveryInfo(r.id, r.channel, r.event, r.address or ChannelTarget.GROUP, r.user_id, r.task_id,
                             r.subject, r.state, r.tries, r.last_error, r.created_at, r.next_try_at, r.sent_at)
                for r in rows]

    def retry(self, delivery_id: int | None = None) -> int:
        """Send again the given-up delivery ``delivery_id`` (None: every given-up one); how many."""
        which = D.c.state == DeliveryState.FAILED
        if delivery_id is not None:
            which = which & (D.c.id == delivery_id)
        with self.engine.begin() as conn:
            if delivery_id is not None:
                found = conn.execute(select(D.c.state).where(D.c.id == delivery_id)).first()
                if found is None:
                    raise DeliveryRefused(f"no delivery has id {delivery_id} (taskconsole deliveries list)")
                if found.state != DeliveryState.FAILED:
                    raise DeliveryRefused(f"delivery {delivery_id} is {found.state}: only a failed one is sent again")
            per_channel = conn.execute(select(D.c.channel, func.count()).where(which).group_by(D.c.channel)).all()
            for channel, n in per_channel:  # counted before the rows leave the state: the counter never falls
                add_total(conn, channel, DeliveryState.FAILED, n)
            # Written anew, as far as giving up goes: it has delivery.give_up_after again.
            now = utcnow()
            done = conn.execute(update(D).where(which).values(
                state=DeliveryState.PENDING, next_try_at=now, created_at=now, held=False, claimed_by=None,
                claimed_until=None)).rowcount
        return done

    def send_now(self, timeout_s: float) -> int:
        """Send what is due from this process, for up to ``timeout_s``, as the leader's sender
        would (claims keep it from sending anything twice beside another sender); how many
        deliveries still wait."""
        DeliverySender(self.settings, self.engine).send_due(timeout_s)
        with read_only(self.engine).connect() as conn:
            return conn.execute(select(func.count()).where(D.c.state.in_(WAITING))).scalar_one()

    def counts(self) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
        """({(channel, state): deliveries that ended so}, {channel: backlog}); every channel of
        the settings has both series from the first read."""
        names = [c.name for c in self.settings.delivery_channels]
        ended = {(c, str(s)): 0 for c in names for s in ENDED}
        backlog = {c: 0 for c in names}
        with read_only(self.engine).connect() as conn:
            for channel, state, n in conn.execute(select(D.c.channel, D.c.state, func.count())
                                                  .group_by(D.c.channel, D.c.state)):
                if state in WAITING:
                    backlog[channel] = backlog.get(channel, 0) + n
                else:
                    ended[(channel, state)] = ended.get((channel, state), 0) + n
            for channel, state, n in conn.execute(select(T.c.channel, T.c.state, T.c.count)):
                ended[(channel, state)] = ended.get((channel, state), 0) + n
        return ended, backlog
