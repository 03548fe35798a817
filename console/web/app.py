"""The app factory (``create_app``) and the embedding in the task system's Flask app (``init_app``)."""

from __future__ import annotations

import atexit
import logging

from flask import Flask
from werkzeug.exceptions import HTTPException

from console.service import Service, open_service
from console.settings import Settings, load_settings
from console.web.answers import http_failure
from console.web.api import EXTENSION, WebContext, bp
from console.web.auth import Authenticate

log = logging.getLogger("console.web")
# Connections the API's threads may hold at once, beside the scheduler's (open_service).
API_CONNECTIONS = 8


def _install(app: Flask, service: Service, authenticate: Authenticate | None) -> None:
    # The blueprint carries its own error handlers: in the host's app only our endpoints answer
    # in our JSON, and the host's errors stay the host's.
    app.extensions[EXTENSION] = WebContext(service=service, authenticate=authenticate)
    app.register_blueprint(bp)


def create_app(service: Service, *, authenticate: Authenticate | None = None) -> Flask:
    """A Flask app serving the API over ``service`` (already open; a scheduler node may run in it)."""
    app = Flask("taskconsole")
    _install(app, service, authenticate)
    # No route matched, or the wrong method: JSON too (the blueprint's handlers see only its routes).
    app.register_error_handler(HTTPException, http_failure)
    return app


def init_app(app: Flask, settings: Settings | None = None, *, authenticate: Authenticate | None = None,
             start_scheduler: bool = True) -> Service:
    """Put the API into the task system's Flask ``app`` and start a scheduler node in this process.

    Without ``settings`` they are read as the command line reads them (``TASKCONSOLE_CONFIG``,
    ``./settings.yaml``, environment overrides). Under a server with several worker processes each
    worker starts a node and exactly one of them leads: the others stand by and serve the API.
    ``authenticate(request) -> user_id | None`` replaces taskconsole's tokens with the host's own
    sign-in; the user must still be an admin. Start the server without preloading the app
    (gunicorn's ``--preload``): a node's threads do not survive a fork.
    """
    settings = settings or load_settings()
    service = open_service(settings, extra_connections=API_CONNECTIONS)
    _install(app, service, authenticate)
    if start_scheduler:
        node = service.start_scheduler(kind="web")
        log.info("taskconsole: scheduler node %s in this process (%s)", node.id, node.role)
        atexit.register(service.stop_scheduler)
    return service
