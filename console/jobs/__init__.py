"""The four jobs. Each is a few set-based SQL statements and returns a summary of counts."""

from console.jobs.base import JobContext, JobSpec
from console.jobs.cleanup import CLEANUP
from console.jobs.progress import PROGRESS
from console.jobs.reset import RESET
from console.jobs.warnings import WARNINGS

JOBS: dict[str, JobSpec] = {spec.id: spec for spec in (RESET, WARNINGS, PROGRESS, CLEANUP)}

__all__ = ["JOBS", "JobContext", "JobSpec"]
