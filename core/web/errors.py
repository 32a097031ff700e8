"""One place that turns errors into responses: JSON under /api/, an HTML page elsewhere, never a trace."""

from __future__ import annotations

import logging

from flask import Flask, Response, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from core.errors import KassaError

log = logging.getLogger(__name__)

_TITLES = {
    400: "Bad request",
    401: "Sign-in required",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    422: "Cannot process this request",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Temporarily unavailable",
}
_HINTS = {
    400: "Check what you sent and try again.",
    401: "Sign in, or send a valid API key as 'Authorization: Bearer sk_test_…'.",
    403: "Your role does not allow this; ask an owner of the account.",
    404: "Check the address. Links to payments and sessions only work for the account that owns them.",
    405: "This address does not accept that method; see the API reference at /api/v1/openapi.json.",
    413: "Send a smaller request.",
    429: "Wait a little and try again.",
    500: "The error has been logged with the request id below. Try again; if it persists, contact support "
    "with that id.",
    503: "A dependency is unavailable. Try again in a minute.",
}


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def error_response(status: int, *, code: str, message: str, type_: str, param: str | None = None) -> Response:
    if wants_json():
        response = jsonify({"error": {"type": type_, "code": code, "message": message, "param": param}})
    else:
        response = Response(
            render_template(
                "errors/error.html",
                status=status,
                title=_TITLES.get(status, "Error"),
                message=message,
                hint=_HINTS.get(status, ""),
                request_id=g.get("request_id"),
            ),
            mimetype="text/html",
        )
    response.status_code = status
    return response


def _kassa_error(exc: KassaError) -> Response:
    return error_response(exc.status, code=exc.code, message=exc.message, type_=exc.type, param=exc.param)


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    code = {404: "resource_missing", 405: "method_not_allowed", 401: "unauthenticated"}.get(
        status, (exc.name or "error").lower().replace(" ", "_")
    )
    message = exc.description or _TITLES.get(status, "Error")
    if status == 404:
        message = "No such resource."
    response = error_response(status, code=code, message=message, type_="invalid_request_error")
    if status == 405 and exc.get_response().headers.get("Allow"):
        response.headers["Allow"] = exc.get_response().headers["Allow"]
    return response


def _unexpected(exc: Exception) -> Response:
    # Logged with the request id; the page shows only the id (never the exception or a trace).
    log.exception("unhandled error")
    return error_response(
        500, code="internal_error", message="An unexpected error occurred.", type_="api_error"
    )


def init_app(app: Flask) -> None:
    app.register_error_handler(KassaError, _kassa_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
