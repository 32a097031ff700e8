"""What every `kassa` command shares: the app's runtime and a clean error exit."""

from __future__ import annotations

import click
from flask import current_app

from core.jobs.runtime import Runtime


def runtime() -> Runtime:
    """The runtime of the app the command runs in (`create_app` put it there)."""
    rt: Runtime = current_app.extensions["kassa.runtime"]
    return rt


def fail(message: str) -> None:
    """Exit 1 with `Error: <message>`, no traceback."""
    raise click.ClickException(message)
