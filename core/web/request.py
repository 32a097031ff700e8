"""The request's unit of work and ids. The request commits in exactly one place: `finish_request`."""

from __future__ import annotations

import re
import uuid

from flask import Flask, Response, current_app, g, request

from core.context import Actor, ActorType, Context
from core.db import UnitOfWork
from core.jobs.runtime import Runtime

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def runtime() -> Runtime:
    rt: Runtime = current_app.extensions["kassa.runtime"]
    return rt


def uow() -> UnitOfWork:
    """The request's unit of work, opened on first use."""
    current: UnitOfWork | None = g.get("_uow")
    if current is None:
        current = g._uow = UnitOfWork(runtime().db.session_factory())
        current.session.info["tenant_id"] = g.get("tenant_id")
    return current


def bind_tenant(tenant_id: str | None) -> None:
    g.tenant_id = tenant_id
    uow().bind_tenant(tenant_id)


def client_ip() -> str | None:
    # ProxyFix (configured from KASSA_TRUSTED_PROXIES in production) has already rewritten remote_addr.
    return request.remote_addr


def actor(type_: ActorType, id_: str) -> Actor:
    """The request's actor: who, from where, under which request id."""
    return Actor(type_, id_, origin_ip=client_ip(), request_id=g.get("request_id"))


def context(who: Actor) -> Context:
    """The call edge for this request's unit of work, acting as `who`."""
    return runtime().context(uow(), who)


def _start_request() -> None:
    incoming = request.headers.get("X-Request-Id", "")
    g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex


def _finish_request(response: Response) -> Response:
    current: UnitOfWork | None = g.pop("_uow", None)
    if current is not None:
        try:
            if response.status_code < 400 or g.get("commit_on_error"):
                current.commit()
            else:
                current.rollback()
        finally:
            current.session.close()
    response.headers["X-Request-Id"] = g.get("request_id", "")
    return response


def _teardown(exc: BaseException | None) -> None:
    current: UnitOfWork | None = g.pop("_uow", None)
    if current is not None:  # the view raised before after_request ran
        current.rollback()
        current.session.close()


def init_app(app: Flask) -> None:
    app.before_request(_start_request)
    app.after_request(_finish_request)
    app.teardown_request(_teardown)
