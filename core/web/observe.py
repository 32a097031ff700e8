"""Each request's span and latency, and the web process's `/metrics`.

A request is the root span of its trace (`GET /pay/<session_id>`: the URL rule, not the path, so no id
lands in a span name or a metric label). An incoming `traceparent` header is not followed: the checkout
and the API face the internet, and a caller does not pick Kassa's trace ids.

`/metrics` answers only with `Authorization: Bearer <KASSA_METRICS_TOKEN>`; without the variable it is a
404, so a deployment never exposes it by accident (docs/operations.md, "Metrics").
"""

from __future__ import annotations

import hmac
import time

from flask import Blueprint, Flask, Response, abort, g, request
from opentelemetry import trace

from core import metrics, telemetry
from core.jobs.metrics import RuntimeCollector
from core.web.access import public
from core.web.request import runtime

bp = Blueprint("observe", __name__)


def _route() -> str:
    rule = request.url_rule
    return rule.rule if rule is not None else "unmatched"


def _start() -> None:
    g._kassa_started = time.perf_counter()
    span = telemetry.tracer().start_span(
        f"{request.method} {_route()}",
        context=telemetry.extract({}),  # a new root: see the module's note on incoming headers
        kind=telemetry.SpanKind.SERVER,
        attributes={
            "http.request.method": request.method,
            "http.route": _route(),
            "kassa.request_id": g.get("request_id") or "",
        },
    )
    g._kassa_span = span
    g._kassa_span_token = telemetry.attach(trace.set_span_in_context(span))


def _status(response: Response) -> Response:
    g._kassa_status = response.status_code
    span = g.get("_kassa_span")
    if span is not None:
        span.set_attribute("http.response.status_code", response.status_code)
    return response


def _finish(exc: BaseException | None) -> None:
    started = g.pop("_kassa_started", None)
    status = g.pop("_kassa_status", 500)
    if started is not None:
        metrics.REQUEST_SECONDS.labels(_route(), request.method, str(status)).observe(
            time.perf_counter() - started
        )
    token = g.pop("_kassa_span_token", None)
    span = g.pop("_kassa_span", None)
    if span is not None:
        if exc is not None:
            span.record_exception(exc)
        span.end()
    if token is not None:
        telemetry.detach(token)


@bp.get("/metrics")
@public  # guarded by its own bearer token below
def metrics_view() -> Response:
    rt = runtime()
    expected = rt.settings.metrics_token
    if not expected:
        abort(404)
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
        response = Response("metrics need Authorization: Bearer <KASSA_METRICS_TOKEN>\n", status=401)
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        response.mimetype = "text/plain"
        response.headers["Cache-Control"] = "no-store"
        return response
    response = Response(metrics.render([RuntimeCollector(rt)]), content_type=metrics.CONTENT_TYPE)
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    """After core.web.request's hooks (the request id exists when the span starts)."""
    app.before_request(_start)
    app.after_request(_status)
    app.teardown_request(_finish)
    app.register_blueprint(bp)
