"""``taskconsole status``: who leads, who stands by, database and Redis health, each job's last run.

Gathered even when the database is down (then it says so), since that is when it is wanted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from console.db.engine import describe_error
from console.db.schema import HEAD, SchemaError, current_revision, mismatch
from console.scheduler.bus import EventBus
from console.scheduler.node import NodeInfo
from console.service.facade import JobInfo, Service, open_service
from console.settings import Settings, redact_url


@dataclass(frozen=True)
class Status:
    database_url: str
    database: str  # ok | down
    redis: str  # ok | down | off
    leader: NodeInfo | None = None
    standbys: list[NodeInfo] = field(default_factory=list)
    jobs: list[JobInfo] = field(default_factory=list)
    database_error: str | None = None
    # Job store rows that would not load (job id -> why): kept in the table, never run.
    refused_jobs: dict[str, str] = field(default_factory=dict)
    # The schema revision the database is at, and the one this version needs.
    schema_revision: str | None = None
    schema_needed: str = HEAD
    # Why this release may not run jobs on the database (the schema fence), None where it may.
    fenced: str | None = None


def gather_status(settings: Settings) -> Status:
    try:
        service = open_service(settings)
    except SchemaError:
        # The schema fence: this release does not fit the database (an upgrade half done). Say so,
        # and who leads, rather than calling the database down.
        return _fenced_status(settings)
    except Exception as exc:  # noqa: BLE001 - status reports what is down instead of failing
        return _down(settings, exc)
    try:
        return status_of(service)
    finally:
        service.engine.dispose()


def _down(settings: Settings, exc: Exception) -> Status:
    return Status(database_url=redact_url(settings.database.url), database="down",
                  redis=EventBus(settings.redis.url).health(), database_error=describe_error(exc, settings.database.url))


def _fenced_status(settings: Settings) -> Status:
    try:
        service = open_service(settings, check_schema=False)
    except Exception as exc:  # noqa: BLE001
        return _down(settings, exc)
    try:
        revision = current_revision(service.engine)
        try:  # the nodes' table as this release knows it; a newer schema may have changed it
            leader, others = service.cluster()
        except Exception:  # noqa: BLE001
            leader, others = None, []
        return Status(database_url=redact_url(settings.database.url), database="ok", redis=service.redis_health(),
                      leader=leader, standbys=others, schema_revision=revision, fenced=mismatch(revision))
    except Exception as exc:  # noqa: BLE001
        return _down(settings, exc)
    finally:
        service.engine.dispose()


def status_of(service: Service) -> Status:
    """The status read through a service already open (the HTTP API's)."""
    settings = service.settings
    url = redact_url(settings.database.url)
    try:
        leader, others = service.cluster()
        jobs = service.jobs()  # reads every job store row, so the refused ones are known after it
        return Status(database_url=url, database="ok", redis=service.redis_health(), leader=leader,
                      standbys=others, jobs=jobs, refused_jobs=service.store.refused,
                      schema_revision=(revision := current_revision(service.engine)), fenced=mismatch(revision))
    except Exception as exc:  # noqa: BLE001
        return Status(database_url=url, database="down", redis=service.redis_health(),
                      database_error=describe_error(exc, settings.database.url))
