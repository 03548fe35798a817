"""The one facade the faces (command line, console, HTTP API) use: jobs, runs, previews, tasks,
actions, and the errors and records they show. The faces import nothing of ``console.db``,
``console.jobs`` or ``console.scheduler`` (tests/unit/test_face_imports.py checks it)."""

from console.db.demo import DemoError
from console.db.engine import DatabaseError, DatabaseUnreachable, database_unavailable, describe_error
from console.db.schema import HEAD as SCHEMA_HEAD, SchemaError
from console.jobs.base import Preview
from console.scheduler.ledger import RunRecord, os_user
from console.scheduler.run_logs import LogLine, current_run
from console.scheduler.node import NodeInfo
from console.scheduler.pause import PauseState
from console.scheduler.runner import AlreadyRunning, RunNotStarted, RunResult, UnknownJob
from console.service.deliveries import DeliveryInfo, DeliveryRefused, check_channel_urls, send_test_message
from console.service.facade import SCHEDULE_DIFFERS, Dashboard, JobInfo, Service, open_service
from console.service.history import AuditLine, SentNote
from console.service.near import AHEAD, NearTask
from console.service.operations import ActionResult, DisabledJob

__all__ = ["AHEAD", "SCHEDULE_DIFFERS", "SCHEMA_HEAD", "ActionResult", "AlreadyRunning", "AuditLine", "Dashboard", "DatabaseError", "DatabaseUnreachable", "DeliveryInfo",
           "DeliveryRefused", "DemoError",
           "DisabledJob", "JobInfo", "LogLine", "NearTask", "NodeInfo", "PauseState", "Preview", "RunNotStarted", "RunRecord", "RunResult",
           "SchemaError", "SentNote", "Service", "UnknownJob", "check_channel_urls", "current_run", "database_unavailable", "describe_error", "open_service", "os_user",
           "send_test_message"]
