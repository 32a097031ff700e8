"""The baseline of `python -m bench hosted_page`: one hello-world Flask route, nothing else.

Served by the same gunicorn command as Kassa (`bench.hello_app:create_app()`), so the ratio of the two
request rates is what the hosted page costs on top of Flask and gunicorn themselves.
"""

from __future__ import annotations

from flask import Flask

PATH = "/hello"


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get(PATH)
    def hello() -> str:
        return "Hello, World!"

    return app
