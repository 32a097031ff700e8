"""Tracing (OpenTelemetry): one trace from a request through the outbox row into the jobs it causes.

Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set: then `configure_tracing` installs the SDK's tracer
provider with a batching OTLP/HTTP exporter (the standard `OTEL_*` variables configure it further, e.g.
`OTEL_SERVICE_NAME`, `OTEL_EXPORTER_OTLP_HEADERS`). Otherwise the API's no-op tracer answers: spans are
non-recording and nothing is stored or sent (docs/operations.md, "Tracing").

The trace context crosses the queue in W3C `traceparent` form: `current_traceparent()` is written into the
outbox row (its `traceparent` column), the relay hands it to RQ as the job's `meta`, and the job registry
(core/jobs/registry.py) opens the job's span under it. Nothing here runs SQL.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import wraps
from typing import Any, Final, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

F = TypeVar("F", bound=Callable[..., Any])

TRACER_NAME: Final = "kassa"
_PROPAGATOR: Final = TraceContextTextMapPropagator()
#: The process that installed the SDK provider (a forked RQ work horse flushes its spans before it exits).
_configured_pid: int | None = None

__all__ = ["Span", "SpanKind", "current_traceparent", "job_span", "span", "traced", "tracer"]


def configure_tracing(environ: Mapping[str, str] | None = None) -> bool:
    """Install the OTLP exporter when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (once per process). True when
    tracing is on."""
    global _configured_pid
    env = os.environ if environ is None else environ
    if _configured_pid is not None:
        return True
    if not env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip():
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(
        resource=Resource.create({"service.name": env.get("OTEL_SERVICE_NAME", "kassa")})
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _configured_pid = os.getpid()
    return True


def mark_configured() -> None:
    """For a caller (a test) that installed its own SDK provider: flush it from forked work horses too."""
    global _configured_pid
    _configured_pid = os.getpid()


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


def current_traceparent() -> str | None:
    """The current span's context as a W3C `traceparent` header value; None when nothing is traced."""
    if not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def extract(headers: Mapping[str, str]) -> otel_context.Context:
    """The context a caller sent (its `traceparent` header), for a span that continues its trace."""
    return _PROPAGATOR.extract(dict(headers))


def trace_ids() -> tuple[str, str] | None:
    """(trace id, span id) in hex of the current span, for log lines; None outside a recorded trace."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")


@contextmanager
def span(
    name: str, *, kind: SpanKind = SpanKind.INTERNAL, attributes: Mapping[str, Any] | None = None
) -> Iterator[Span]:
    """A span around a block (an exception is recorded on it and re-raised)."""
    with tracer().start_as_current_span(name, kind=kind, attributes=dict(attributes or {})) as current:
        yield current


def traced(name: str, *, kind: SpanKind = SpanKind.CLIENT) -> Callable[[F], F]:
    """Decorate a method: a span named `name` around each call (processor adapters, core/processors)."""

    def decorate(func: F) -> F:
        @wraps(func)
        def call(*args: Any, **kwargs: Any) -> Any:
            with span(name, kind=kind) as current:
                result = func(*args, **kwargs)
                status = getattr(result, "status", None)
                if status is not None:
                    current.set_attribute("kassa.result", str(status))
                return result

        return call  # type: ignore[return-value]

    return decorate


@contextmanager
def job_span(name: str, *, traceparent: str | None, attributes: Mapping[str, Any]) -> Iterator[Span]:
    """The span of one job run, continuing the trace of the outbox row that caused it."""
    parent = extract({"traceparent": traceparent}) if traceparent else None
    try:
        with tracer().start_as_current_span(
            f"job {name}", context=parent, kind=SpanKind.CONSUMER, attributes=dict(attributes)
        ) as current:
            try:
                yield current
            except BaseException as exc:
                current.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise
    finally:
        _flush_if_forked()


def _flush_if_forked() -> None:
    # RQ's forked work horse leaves with os._exit: a batching processor would lose the job's spans.
    if _configured_pid is None or os.getpid() == _configured_pid:
        return
    flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    if flush is not None:
        flush()


def attach(ctx: otel_context.Context) -> object:
    return otel_context.attach(ctx)


def detach(token: object) -> None:
    otel_context.detach(token)  # type: ignore[arg-type]
