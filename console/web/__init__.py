"""The HTTP API: the design document's monitoring endpoints, /healthz and /metrics, over the service.

``create_app(service)`` is the one app factory (``taskconsole run``, ``serve``, the console and the
tests use it); ``init_app(app)`` puts the API into the task system's own Flask app and starts a
scheduler node there; ``ApiServer`` serves an app on a production WSGI server (waitress).
"""

from console.web.app import create_app, init_app
from console.web.server import ApiServer, ListenError

__all__ = ["ApiServer", "ListenError", "create_app", "init_app"]
