"""One place that turns errors into responses: JSON under /api/, an HTML page elsewhere, never a trace.

JSON errors stay in English: programs read them. The HTML page speaks the request's locale (core/web/i18n.py:
the checkout session's language, else Accept-Language), so a shopper reads a failed checkout in their own
language; under /portal, which is English throughout, it stays English. Its title, hint and label are
extracted for translation (babel.cfg) and translated as the page renders; the error's message is translated
when the catalog has it (checkout/messages.py lists the core errors a shopper can meet) and shown as it
stands otherwise.

A dependency that is down (PostgreSQL, Redis) is a 503 with `Retry-After`, never a 500: the client, the load
balancer and the shopper's next click try again once it is back (docs/operations.md, "Outages"). Every 503
carries `Retry-After`, a core error's (payments briefly unavailable) as well as a lost connection's.

A surface may draw its own page for its paths (`register_page`): the checkout shows its errors in its card
layout, with the shop's branding and a next step (checkout/errors.py). This module still decides the status,
the message, the locale and that no trace is ever shown.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import redis
import sqlalchemy.exc
from flask import Flask, Response, current_app, g, jsonify, render_template, request
from flask_babel import force_locale, gettext
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from core import telemetry
from core.errors import KassaError
from core.jobs import status as operations_status
from core.web.current import current_uow
from core.web.i18n import current_locale, page_locale
from core.web.logs import mask_pans

log = logging.getLogger(__name__)


def N_(message: str) -> str:
    """Mark `message` for extraction (a default Babel keyword) but keep it a plain English str: the same text
    serves the JSON errors untranslated and the HTML page, which translates it with `gettext` as it renders.
    (A lazy_gettext string would turn German in a JSON body under `Accept-Language: de`.)"""
    return message


NO_SUCH_RESOURCE = N_("No such resource.")
UNEXPECTED = N_("An unexpected error occurred.")
#: The JSON message of a 503 for a dependency that is down (programs read it: English, not extracted). The
#: HTML page shows no message of its own: its translated title and hint ("Temporarily unavailable", "A
#: dependency is unavailable. Try again in a minute.") say it.
UNAVAILABLE = "A service Kassa depends on is briefly unavailable. Try again after Retry-After seconds."

#: Seconds a 503's `Retry-After` asks a client to wait (the same as `/readyz`'s, core/web/health.py).
RETRY_AFTER = 5

#: Errors that mean a dependency is down or the connection to it was lost, not a bug: PostgreSQL refusing or
#: dropping connections (psycopg's OperationalError, which SQLAlchemy wraps; also a cancelled statement or a
#: lock timeout, equally worth a retry), the pool finding no connection in time, Redis not answering.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.TimeoutError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)
ERROR = N_("Error")

_TITLES = {
    400: N_("Bad request"),
    401: N_("Sign-in required"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    405: N_("Method not allowed"),
    409: N_("Conflict"),
    413: N_("Request too large"),
    422: N_("Cannot process this request"),
    429: N_("Too many requests"),
    500: N_("Something went wrong"),
    503: N_("Temporarily unavailable"),
}
_HINTS = {
    400: N_("Check what you sent and try again."),
    401: N_("Sign in, or send a valid API key as 'Authorization: Bearer sk_test_…'."),
    403: N_("Your role does not allow this; ask an owner of the account."),
    404: N_("Check the address. Links to payments and sessions only work for the account that owns them."),
    405: N_("This address does not accept that method; see the API reference at /api/v1/openapi.json."),
    413: N_("Send a smaller request."),
    429: N_("Wait a little and try again."),
    500: N_(
        "The error has been logged with the request id below. Try again; if it persists, contact support "
        "with that id."
    ),
    503: N_("A dependency is unavailable. Try again in a minute."),
}


@dataclass(frozen=True)
class ErrorPage:
    """What an error page shows, in English (a renderer translates it as it renders, under the page's
    locale)."""

    status: int
    message: str
    request_id: str | None


#: Draws the page for an error on a surface's paths.
PageRenderer = Callable[[ErrorPage], str]
_RENDERERS = "kassa_error_pages"


def register_page(app: Flask, prefixes: tuple[str, ...], renderer: PageRenderer) -> None:
    """Errors under these path prefixes get `renderer`'s page instead of the shared one."""
    app.extensions.setdefault(_RENDERERS, []).append((prefixes, renderer))


def _renderer() -> PageRenderer | None:
    for prefixes, renderer in current_app.extensions.get(_RENDERERS, ()):
        if request.path.startswith(prefixes):
            return renderer  # type: ignore[no-any-return]
    return None


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def _translated(text: str) -> str:
    # gettext("") would answer the catalog's header; a text the catalog lacks comes back as it stands.
    return gettext(text) if text else text


def translated_title(status: int) -> str:
    """The shared page's title for `status`, in the current locale."""
    return _translated(_TITLES.get(status, ERROR))


def _error_page(status: int, message: str) -> str:
    with force_locale(page_locale()):
        renderer = _renderer()
        if renderer is not None:
            try:
                return renderer(ErrorPage(status=status, message=message, request_id=g.get("request_id")))
            except Exception:
                # The surface's page needs more of the app (branding, the session) than may work right now.
                log.exception("the error page of this surface failed; showing the shared one")
        return render_template(
            "errors/error.html",
            lang=current_locale(),
            status=status,
            title=_translated(_TITLES.get(status, ERROR)),
            message=_translated(message),
            hint=_translated(_HINTS.get(status, "")),
            request_id=g.get("request_id"),
        )


def error_response(status: int, *, code: str, message: str, type_: str, param: str | None = None) -> Response:
    """`message` in English: as it stands in JSON, translated (when the catalog has it) on the HTML page."""
    if wants_json():
        response = jsonify({"error": {"type": type_, "code": code, "message": message, "param": param}})
    else:
        response = Response(_error_page(status, message), mimetype="text/html")
    response.status_code = status
    if status == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER)
    return response


def _kassa_error(exc: KassaError) -> Response:
    if exc.keeps_effects:
        g.commit_on_error = True  # core/web/request.py commits the request's work with this answer
    return error_response(exc.status, code=exc.code, message=exc.message, type_=exc.type, param=exc.param)


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    code = {404: "resource_missing", 405: "method_not_allowed", 401: "unauthenticated"}.get(
        status, (exc.name or "error").lower().replace(" ", "_")
    )
    message = exc.description or _TITLES.get(status, ERROR)
    if status == 404:
        message = NO_SUCH_RESOURCE
    elif message == type(exc).description and not wants_json():
        # Werkzeug's stock wording (English, not in the catalog); the page's title and hint say it instead.
        message = ""
    response = error_response(status, code=code, message=message, type_="invalid_request_error")
    if status == 405 and exc.get_response().headers.get("Allow"):
        response.headers["Allow"] = exc.get_response().headers["Allow"]
    return response


def _remember(status: int, exc: BaseException) -> None:
    """Keep the error for the operator view's "Recent errors" (core/jobs/status.py): the request and trace
    ids to find its log lines, the URL rule rather than the path (a path may carry a checkout session's
    id), the exception's type and message with card numbers masked. Best effort: with Redis down (often
    the very cause of a 5xx) the log line is all there is."""
    rt = current_app.extensions.get("kassa.runtime")
    if rt is None:
        return
    ids = telemetry.trace_ids()
    try:
        operations_status.record_error(
            rt.redis,
            at=rt.clock.now(),
            status=status,
            method=request.method,
            route=request.url_rule.rule if request.url_rule is not None else "(no route)",
            request_id=g.get("request_id") or "",
            trace_id=ids[0] if ids else None,
            error=mask_pans(f"{type(exc).__name__}: {exc}"),
        )
    except Exception:
        log.warning("could not keep the error for the operator view", exc_info=True)


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` (or what it wraps: a DBAPIError whose connection was invalidated) says a dependency is
    down rather than that the code is wrong."""
    if isinstance(exc, UNAVAILABLE_ERRORS):
        return True
    return isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated


def unavailable(exc: BaseException) -> Response:
    """503 with `Retry-After`: PostgreSQL or Redis is down. Logged without a trace (one line per request
    while it lasts); the health checks and the dependency's own alerts say the rest."""
    log.warning("dependency unavailable, answering 503: %s", type(exc).__name__)
    message = UNAVAILABLE if wants_json() else ""
    return error_response(503, code="service_unavailable", message=message, type_="api_error")


def _unexpected(exc: Exception) -> Response:
    if is_unavailable(exc):
        return unavailable(exc)
    # Logged with the request id; the page shows only the id (never the exception or a trace).
    log.exception("unhandled error")
    _remember(500, exc)
    return error_response(500, code="internal_error", message=UNEXPECTED, type_="api_error")


#: SQLSTATEs of a database that refuses a write it would take another time: out of disk, memory or
#: connections (class 53), a read-only transaction (a standby), a revoked grant, an I/O error. The
#: request's transaction is rolled back whole, so nothing of the action is written, and the same request
#: succeeds once the operator has fixed it: 503 with Retry-After, not 500.
WRITE_REFUSED_STATES = ("53", "25006", "42501", "58030")
#: JSON only: the page says it with its translated title and hint.
STORAGE_UNAVAILABLE = "Kassa cannot write to its database right now; nothing was changed. Retry in a minute."
STORAGE_RETRY_AFTER_SECONDS = 30


def _sqlstate(exc: DBAPIError) -> str:
    return str(getattr(exc.orig, "sqlstate", None) or "")


def _database_error(exc: DBAPIError) -> Response:
    state = _sqlstate(exc)
    if not state.startswith(WRITE_REFUSED_STATES):
        return _unexpected(exc)
    current = current_uow()
    if current is not None:
        current.rollback()  # the failed transaction goes now: the error page may read (branding, the session)
    # The SQLSTATE and table, never the statement: its parameters may hold customer data.
    diag = getattr(exc.orig, "diag", None)
    log.error(
        "the database refused a write (SQLSTATE %s, table %s): answered 503",
        state,
        getattr(diag, "table_name", None),
    )
    # The driver's error: its message only, without the statement and parameters SQLAlchemy adds.
    _remember(503, exc.orig if isinstance(exc.orig, BaseException) else exc)
    message = STORAGE_UNAVAILABLE if wants_json() else ""
    response = error_response(503, code="storage_unavailable", message=message, type_="api_error")
    response.headers["Retry-After"] = str(STORAGE_RETRY_AFTER_SECONDS)
    return response


def _flush_writes(response: Response) -> Response:
    """Send the request's pending writes before the response is final, so a refused write (an
    unwritable audit table, a full disk) is answered by `_database_error`, with the usual headers, instead
    of failing the commit after the answer was made (a 500). The commit (core/web/request.py) follows."""
    current = current_uow()
    if current is None or (response.status_code >= 400 and not g.get("commit_on_error")):
        return response
    try:
        current.session.flush()
    except DBAPIError as exc:
        if not _sqlstate(exc).startswith(WRITE_REFUSED_STATES):
            raise
        g.commit_on_error = False  # the answer is the 503: nothing of the request is committed
        return _database_error(exc)
    return response


def _retry_after(response: Response) -> Response:
    # A view may answer 503 itself (a form whose fail-closed limiter is unreachable): it gets the header too.
    if response.status_code == 503 and "Retry-After" not in response.headers:
        response.headers["Retry-After"] = str(RETRY_AFTER)
    return response


def init_app(app: Flask) -> None:
    app.after_request(_retry_after)
    app.register_error_handler(KassaError, _kassa_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(DBAPIError, _database_error)
    app.register_error_handler(Exception, _unexpected)
    # Registered after security and observability: after_request runs in reverse, so this comes first
    # and they see (and dress) the answer it may replace.
    app.after_request(_flush_writes)
