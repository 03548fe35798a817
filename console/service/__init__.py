"""The one facade the faces (command line, console) use: jobs, runs, previews, tasks, actions."""

from console.service.facade import JobInfo, Service, open_service

__all__ = ["JobInfo", "Service", "open_service"]
