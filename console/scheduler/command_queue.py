"""Durable commands for the leading scheduler: an attached console's trigger, pause and resume.

A command is a row in ``scheduler_commands``; the leader claims open rows with one conditional
UPDATE (so two leaders in a hand-over cannot both take one), carries them out and writes the
outcome on the row. Redis, when configured, only tells the leader to look sooner. A command
nobody took within ``EXPIRE_AFTER`` is closed as expired rather than carried out late: a "run
now" pressed ten minutes ago is no longer what the operator asked for.

A run command says when its run has begun (``started``: outcome ``started``, detail ``run <id>``,
still open) before it is closed with the run's status, so whoever asked can tell a run that
started from one the leader took and then refused (already running, could not start).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, insert, select, update

from console.db.engine import read_only
from console.db.models import SchedulerCommand
from console.domain.runs import Action, Outcome
from console.scheduler.ledger import HOST, utcnow, write_through_restart

# What may be queued for the leader (an audited action such as set-recurrence is done where asked).
ACTIONS = (Action.RUN, Action.PAUSE, Action.RESUME, Action.PAUSE_ALL, Action.RESUME_ALL)
EXPIRE_AFTER = timedelta(minutes=5)
_RUN_DETAIL = re.compile(r"run (\d+)\b")


@dataclass(frozen=True)
class Command:
    id: int
    action: str
    job_id: str | None
    actor: str
    host: str
    created_at: datetime
    taken_by: str | None
    done_at: datetime | None
    outcome: str | None
    detail: str | None


def _command(row) -> Command:
    return Command(id=row.id, action=row.action, job_id=row.job_id, actor=row.actor, host=row.host,
                   created_at=row.created_at, taken_by=row.taken_by, done_at=row.done_at,
                   outcome=row.outcome, detail=row.detail)


class CommandQueue:
    def __init__(self, engine: Engine):
        self._engine = engine

    def submit(self, action: str, job_id: str | None, actor: str) -> int:
        if action not in ACTIONS:
            raise ValueError(f"unknown command {action!r}")
        with self._engine.begin() as conn:
            return conn.execute(
                insert(SchedulerCommand).values(action=action, job_id=job_id, actor=actor, host=HOST,
                                                created_at=utcnow()).returning(SchedulerCommand.id)
            ).scalar_one()

    def get(self, command_id: int) -> Command | None:
        with read_only(self._engine).connect() as conn:
            row = conn.execute(select(SchedulerCommand).where(SchedulerCommand.id == command_id)).first()
        return _command(row) if row else None

    def claim(self, node_id: str) -> list[Command]:
        """Open commands, taken by ``node_id``; old ones are closed as expired first."""
        now = utcnow()
        open_ = SchedulerCommand.done_at.is_(None)
        with self._engine.begin() as conn:
            conn.execute(
                update(SchedulerCommand)
                .where(open_, SchedulerCommand.taken_by.is_(None), SchedulerCommand.created_at < now - EXPIRE_AFTER)
                .values(done_at=now, outcome=Outcome.EXPIRED, detail="no leader took it in time")
            )
            ids = conn.execute(
                select(SchedulerCommand.id).where(open_, SchedulerCommand.taken_by.is_(None))
                .order_by(SchedulerCommand.id).limit(20)
            ).scalars().all()
            taken = []
            for command_id in ids:
                # Conditional on still being untaken: of two claimers, one gets each row.
                got = conn.execute(
                    update(SchedulerCommand)
                    .where(SchedulerCommand.id == command_id, SchedulerCommand.taken_by.is_(None))
                    .values(taken_by=node_id, taken_at=now)
                ).rowcount
                if got:
                    taken.append(command_id)
            rows = conn.execute(select(SchedulerCommand).where(SchedulerCommand.id.in_(taken))
                                .order_by(SchedulerCommand.id)).all() if taken else []
        return [_command(r) for r in rows]

    def started(self, command_id: int, run_id: int) -> None:
        """The run command's run has begun (its ledger row is written); the command stays open."""
        with self._engine.begin() as conn:
            conn.execute(update(SchedulerCommand)
                         .where(SchedulerCommand.id == command_id, SchedulerCommand.done_at.is_(None))
                         .values(outcome=Outcome.STARTED, detail=f"run {run_id}"))

    def finish(self, command_id: int, outcome: str, detail: str | None = None) -> None:
        write_through_restart(self._engine, update(SchedulerCommand).where(SchedulerCommand.id == command_id)
                              .values(done_at=utcnow(), outcome=outcome, detail=detail))

    def close_orphans(self, node_id: str) -> int:
        """Called by a new leader: commands an earlier leader took and never finished are closed.

        Holding the leader lock proves that leader is gone; a run it had started is marked
        abandoned (and run again if still within its grace time) from the run ledger instead.
        """
        with self._engine.begin() as conn:
            return conn.execute(
                update(SchedulerCommand)
                .where(SchedulerCommand.done_at.is_(None), SchedulerCommand.taken_by.is_not(None),
                       SchedulerCommand.taken_by != node_id)
                .values(done_at=utcnow(), outcome=Outcome.ABANDONED, detail="the leader that took it ended first")
            ).rowcount


def run_id_of(command: Command) -> int | None:
    """The run a run command started (its detail begins ``run <id>``); None if it started none."""
    found = _RUN_DETAIL.match(command.detail or "")
    return int(found.group(1)) if found else None
