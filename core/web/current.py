"""Where the request keeps its unit of work (`flask.g`), read without opening one.

core/web/request.py opens, commits and closes it; the error handlers (core/web/errors.py) only look at
it, and must not import core/web/request.py, which imports them."""

from __future__ import annotations

from flask import g

from core.db import UnitOfWork

#: The attribute of `flask.g` that holds the request's unit of work once opened.
SLOT = "_uow"


def current_uow() -> UnitOfWork | None:
    """The request's unit of work if one was opened, without opening one."""
    current: UnitOfWork | None = g.get(SLOT)
    return current
