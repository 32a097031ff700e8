"""The request's unit of work and ids. The request commits in exactly one place: `finish_request`."""

from __future__ import annotations

import re
import uuid

from flask import Blueprint, Flask, Response, abort, current_app, g, request

from core.context import Actor, ActorType, Context
from core.db import UnitOfWork
from core.jobs.runtime import Runtime
from core.web import errors

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
    """The request's actor: who, from where (IP and browser), under which request id."""
    return Actor(
        type_,
        id_,
        origin_ip=client_ip(),
        request_id=g.get("request_id"),
        user_agent=request.user_agent.string or None,
    )


def context(who: Actor) -> Context:
    """The call edge for this request's unit of work, acting as `who`."""
    return runtime().context(uow(), who)


def _start_request() -> None:
    incoming = request.headers.get("X-Request-Id", "")
    g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex


_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
#: `app.extensions` key: the names of the blueprints that validate their own request bodies.
_OWN_BODY_CHECKS = "kassa.own_body_checks"


def exempt_from_form_check(app: Flask, bp: Blueprint) -> None:
    """`bp` validates every body it is sent itself and names the bad parameter (the API, against its route
    schemas): the form check below leaves its requests alone, as `csrf.exempt(bp)` does CSRF's."""
    app.extensions.setdefault(_OWN_BODY_CHECKS, set()).add(bp.name)


def _refuse_unstorable_form() -> None:
    """A posted form field that PostgreSQL's text cannot hold (a NUL character, in its name or value) is
    refused with a 400 before any view reads it: no one types one, and a view would otherwise reach the
    database with it (a 500). A blueprint that checks its bodies itself is exempted
    (`exempt_from_form_check`)."""
    if request.method not in ("POST", "PUT", "PATCH") or request.mimetype not in _FORM_TYPES:
        return
    if request.url_rule is None:
        return  # no view reads it: the 404 or 405 answers, in the format of the surface asked
    if not current_app.extensions.get(_OWN_BODY_CHECKS, set()).isdisjoint(request.blueprints):
        return  # reading the form here would consume the body it reads itself (the API: "not JSON")
    if any("\x00" in name or "\x00" in value for name, value in request.form.items(multi=True)):
        abort(400)


def _finish_request(response: Response) -> Response:
    current: UnitOfWork | None = g.pop("_uow", None)
    if current is not None:
        try:
            if response.status_code < 400 or g.get("commit_on_error"):
                current.commit()
            else:
                current.rollback()
        except Exception as exc:
            # The database went away between the view and its commit: a 503 to try again, not a 500
            # (an exception raised here would skip the error handlers' mapping).
            if not errors.is_unavailable(exc):
                raise
            response = errors.unavailable(exc)
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
    app.before_request(_refuse_unstorable_form)
    app.after_request(_finish_request)
    app.teardown_request(_teardown)
