"""A small task-system app that embeds taskconsole, as the design document's create_app() embeds
its scheduler: ``console.web.init_app(app)`` replaces ``init_scheduler()`` and the seed's
``scheduler_bp``.

Under gunicorn with several workers each worker runs this factory; taskconsole's leader election
lets exactly one of them run the jobs, and every worker serves the API:

    gunicorn -w 4 -b 127.0.0.1:5000 'app:create_app()'

(never with --preload: a scheduler node's threads do not survive the fork).
"""

from __future__ import annotations

from flask import Flask, jsonify

import console.web


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/")
    def index():
        return jsonify({"code": 0, "message": "task system", "data": None})

    # Settings as the command line reads them: TASKCONSOLE_CONFIG, ./settings.yaml, the
    # environment's TASKCONSOLE_DATABASE_URL. The host's own sign-in may replace taskconsole's
    # tokens: console.web.init_app(app, authenticate=lambda request: current_user_id(request)).
    console.web.init_app(app)
    return app
