"""The call edge of an API request: the caller's key acting, in this request's unit of work."""

from __future__ import annotations

from core.context import Context
from core.web.request import context
from portal.api.auth import caller


def api_ctx() -> Context:
    return context(caller().actor())
