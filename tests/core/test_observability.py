"""Tracing, metrics, JSON logs with trace ids, and readiness (issue 17, item 3).

The trace test drives the real path: the hosted page's confirm POST, the outbox, the real RQ worker, the
sandbox processor and a real HTTP receiver, and reads the spans from the SDK's in-memory exporter.
"""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text

from core import metrics, migrate, telemetry
from core.clock import FrozenClock
from core.jobs import outbox
from core.jobs import runtime as runtime_module
from core.jobs.metrics import RuntimeCollector, outbox_oldest
from core.jobs.runtime import Runtime
from core.web.logs import configure_logging
from tests.factories import MadeTenant
from tests.fixtures import CheckedClient, Factories
from tests.payments_helpers import create_session, submit_pay_form, work
from tests.postgres_cluster import Cluster
from tests.webhooks_helpers import create_endpoint, receiver

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

_EXPORTER = InMemorySpanExporter()
#: Whether _EXPORTER is attached to the global provider: once per process, though every module that
#: uses `spans` (tests/portal/test_operations_page.py too) asks for it (twice, every span came twice).
_ATTACHED: list[bool] = []


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    """The SDK, recording into memory (the global provider can be set once per process)."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
        telemetry.mark_configured()
    if not _ATTACHED:
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        _ATTACHED.append(True)
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


def _pay_and_deliver(client: FlaskClient, clean: Runtime, tenant: MadeTenant) -> list[bytes]:
    with receiver() as hooks:
        create_endpoint(clean, tenant, hooks.url, events=["payment.succeeded"])
        session = create_session(client, tenant)
        posted = submit_pay_form(client, session["id"])
        assert posted.status_code in (200, 302, 303), posted.get_data(as_text=True)[:500]
        for _ in range(10):
            work(clean)
            if hooks.received:
                break
            time.sleep(0.1)
        return [r.body for r in hooks.received]


def _chain(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[str]:
    names = [span.name]
    while span.parent is not None:
        assert span.parent.trace_id == span.context.trace_id
        span = by_id[span.parent.span_id]
        names.append(span.name)
    return names


def test_one_connected_trace_from_the_confirm_post_to_the_webhook_delivery(
    spans: InMemorySpanExporter,
    client: FlaskClient,
    make: Factories,
    clean: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(clean, "settings", clean.settings.with_changes(webhooks_allow_private=True))
    tenant = make.tenants()
    spans.clear()
    received = _pay_and_deliver(client, clean, tenant)
    assert [json.loads(body)["type"] for body in received] == ["payment.succeeded"]

    finished = spans.get_finished_spans()
    by_id = {s.context.span_id: s for s in finished}
    confirm = [s for s in finished if s.name.startswith("POST /pay/")]
    assert len(confirm) == 1, [s.name for s in finished]
    root = confirm[0]
    assert root.parent is None
    delivery = [s for s in finished if s.name == "webhook.deliver"]
    assert len(delivery) == 1
    chain = _chain(delivery[0], by_id)
    # One trace: the webhook POST's span leads back, parent by parent, to the confirm POST.
    assert chain[-1] == root.name
    assert chain[0] == "webhook.deliver"
    assert "job core.webhooks.jobs.deliver" in chain
    assert "job core.payments.jobs.process_payment" in chain
    authorize = [s for s in finished if s.name == "processor.authorize"]
    assert len(authorize) == 1
    assert _chain(authorize[0], by_id)[1:] == ["job core.payments.jobs.process_payment", root.name]
    # (The API call that made the session is a trace of its own, with the jobs it caused.)
    caused = ("job core.payments.jobs.process_payment", "job core.webhooks.jobs.deliver", "webhook.deliver")
    assert {s.context.trace_id for s in finished if s.name in caused} == {root.context.trace_id}


def _scrape(client: FlaskClient, token: str) -> str:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return response.get_data(as_text=True)


def test_metrics_show_requests_payments_queues_jobs_webhooks_and_outbox_lag(
    client: FlaskClient, make: Factories, clean: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "m" * 32
    monkeypatch.setattr(
        clean, "settings", clean.settings.with_changes(webhooks_allow_private=True, metrics_token=token)
    )
    tenant = make.tenants()
    assert _pay_and_deliver(client, clean, tenant)
    text = _scrape(client, token)
    assert 'kassa_http_request_duration_seconds_count{method="POST",route="/pay/<session_id>",status=' in text
    assert 'kassa_payments_total{outcome="succeeded"}' in text
    assert 'kassa_webhook_deliveries_total{outcome="succeeded"}' in text
    assert 'kassa_jobs_total{job="core.payments.jobs.process_payment",queue="payments",result="ok"}' in text
    assert "# TYPE kassa_job_failures_total counter" in text
    for queue in ("payments", "webhooks", "payouts", "default"):
        assert f'kassa_queue_depth{{queue="{queue}"}} 0.0' in text
        assert f'kassa_queue_oldest_job_age_seconds{{queue="{queue}"}} 0.0' in text
        assert f'kassa_queue_failed_jobs{{queue="{queue}"}}' in text
    assert "kassa_outbox_lag_seconds 0.0" in text
    assert 'kassa_scrape_error{component="database"} 0.0' in text
    # No raw path (and so no session id) in any label.
    assert "cs_" not in text


def test_metrics_need_the_token_and_are_off_without_one(
    client: FlaskClient, clean: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert client.get("/metrics").status_code == 404
    monkeypatch.setattr(clean, "settings", clean.settings.with_changes(metrics_token="t" * 20))
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert "Bearer" in refused.headers["WWW-Authenticate"]
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_queue_depth_age_and_outbox_lag_count_what_waits(make: Factories, clean: Runtime) -> None:
    tenant = make.tenants()
    an_hour_ago = FrozenClock(clean.clock.now() - timedelta(hours=1))
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        # Written, never relayed (as while Redis is down): the outbox lags.
        outbox.add(
            uow, "core.webhooks.jobs.sweep_deliveries", clock=an_hour_ago, tenant_id=tenant.id, kwargs={}
        )
    oldest = outbox_oldest(clean, clean.clock.now())
    assert oldest is not None
    assert 3590 < (clean.clock.now() - oldest).total_seconds() < 3700
    clean.relay()
    clean.queue("default").enqueue_call(func="core.webhooks.jobs.sweep_deliveries", kwargs={})
    time.sleep(0.05)
    text = metrics.render([RuntimeCollector(clean)]).decode()
    assert 'kassa_queue_depth{queue="default"} 2.0' in text
    assert "kassa_outbox_lag_seconds 0.0" in text
    ages = {
        sample.labels["queue"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "kassa_queue_oldest_job_age_seconds"
        for sample in family.samples
    }
    assert 0.05 <= ages["default"] < 60
    assert ages["payments"] == 0.0


def test_a_worker_serves_metrics_on_its_own_port(clean: Runtime) -> None:
    server = metrics.serve(0, lambda: [RuntimeCollector(clean)])
    try:
        port = server.server_address[1]  # type: ignore[attr-defined]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            body = response.read().decode()
        assert 'kassa_queue_depth{queue="payments"}' in body
        assert "kassa_outbox_lag_seconds" in body
    finally:
        server.shutdown()  # type: ignore[attr-defined]
        server.server_close()  # type: ignore[attr-defined]


def test_log_lines_carry_the_request_id_and_the_trace_id(spans: InMemorySpanExporter, app: Flask) -> None:
    stream = io.StringIO()
    handler = configure_logging("INFO", stream=stream)
    try:
        with telemetry.span("outer") as outer:
            logging.getLogger("kassa.test").warning("inside a span")
        with app.test_request_context("/"):
            from flask import g

            g.request_id = "req-12345678"
            with telemetry.span("request"):
                logging.getLogger("kassa.test").warning("inside a request")
    finally:
        logging.getLogger().removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["trace_id"] == format(outer.get_span_context().trace_id, "032x")
    assert len(first["span_id"]) == 16
    assert second["request_id"] == "req-12345678"
    assert len(second["trace_id"]) == 32


# Readiness ------------------------------------------------------------------------------------------


def test_readyz_is_503_while_postgresql_is_stopped_and_200_after(clean: Runtime) -> None:
    from wsgi import create_app

    cluster = Cluster()
    gated: Runtime | None = None
    try:
        cluster.start()
        engine = create_engine(cluster.url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("CREATE DATABASE kassa"))
        engine.dispose()
        # A superuser owner: `kassa db upgrade` makes the application and definer roles itself.
        settings = clean.settings.with_changes(database_url=cluster.url("kassa"), database_app_url=None)
        migrate.upgrade(settings)
        gated = runtime_module.build(settings)
        app = create_app(settings, runtime=gated)
        app.test_client_class = CheckedClient
        client = app.test_client()
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.json
        assert ready.json == {"status": "ok", "database": "ok", "migrations": "ok", "redis": "ok"}

        cluster.stop()
        down = client.get("/readyz")
        assert down.status_code == 503
        assert down.headers["Retry-After"] == "5"
        assert down.headers["Cache-Control"] == "no-store"
        assert down.json is not None
        assert down.json["down"] == ["database", "migrations"]
        assert down.json["database"].startswith("unavailable (")
        assert down.json["redis"] == "ok"
        assert client.get("/healthz").status_code == 503

        cluster.start()  # and back: the same process recovers, no restart
        deadline = time.monotonic() + 10
        while (again := client.get("/readyz")).status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert again.status_code == 200, again.json
    finally:
        if gated is not None:
            gated.db.dispose()
        cluster.remove()
        runtime_module.install(clean)


def test_readyz_is_503_when_the_schema_is_behind_the_code(
    client: FlaskClient, clean: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert client.get("/readyz").status_code == 200
    monkeypatch.setattr(migrate, "head_revision", lambda: "9999")
    behind = client.get("/readyz")
    assert behind.status_code == 503
    assert behind.json is not None
    assert behind.json["down"] == ["migrations"]
    assert behind.json["migrations"].startswith("not at head (database ")
    assert behind.headers["Retry-After"] == "5"


# Separate processes: the tracer provider and prometheus_client's multiprocess mode are chosen once per
# process, at start -------------------------------------------------------------------------------------


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_spans_go_out_over_otlp_http_when_the_endpoint_is_set() -> None:
    with receiver() as collector:
        done = _python(
            """
            from opentelemetry import trace
            from core import telemetry
            assert telemetry.configure_tracing()
            with telemetry.span("probe"):
                assert telemetry.current_traceparent().startswith("00-")
            trace.get_tracer_provider().force_flush()
            """,
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{collector.port}",
            OTEL_SERVICE_NAME="kassa-test",
        )
        assert done.returncode == 0, done.stderr
        assert [r.path for r in collector.received] == ["/v1/traces"]
        assert collector.received[0].headers["content-type"] == "application/x-protobuf"
        assert b"probe" in collector.received[0].body and b"kassa-test" in collector.received[0].body


def test_without_the_endpoint_tracing_is_a_no_op() -> None:
    done = _python(
        """
        from core import telemetry
        assert not telemetry.configure_tracing()
        with telemetry.span("probe"):
            assert telemetry.current_traceparent() is None
            assert telemetry.trace_ids() is None
        """,
        OTEL_EXPORTER_OTLP_ENDPOINT="",
    )
    assert done.returncode == 0, done.stderr


def test_multiprocess_mode_adds_up_the_processes(tmp_path: Path) -> None:
    count = """
        from core import metrics
        metrics.PAYMENTS.labels("succeeded").inc()
        print(metrics.render().decode())
        """
    for _ in range(2):
        done = _python(count, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
        assert done.returncode == 0, done.stderr
    assert 'kassa_payments_total{outcome="succeeded"} 2.0' in done.stdout


def test_kassa_worker_serves_metrics_on_its_metrics_port(clean: Runtime) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    kassa = str(Path(sys.executable).with_name("kassa"))
    worker = subprocess.Popen(
        [kassa, "worker", "--metrics-port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        body = ""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
                    body = response.read().decode()
                break
            except OSError:
                time.sleep(0.2)
        assert 'kassa_queue_depth{queue="webhooks"}' in body
        assert 'kassa_scrape_error{component="database"} 0.0' in body
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def test_a_forking_worker_continues_the_outbox_rows_trace_and_exports_it_over_otlp(
    spans: InMemorySpanExporter, clean: Runtime
) -> None:
    # `kassa worker` (RQ's forking Worker): the work horse exits with os._exit, so it flushes its spans.
    with telemetry.span("cause") as cause, clean.db.unit_of_work() as uow:
        row = outbox.add(uow, "core.webhooks.jobs.sweep_deliveries", clock=clean.clock)
    assert row.traceparent is not None
    assert row.traceparent.split("-")[1] == format(cause.get_span_context().trace_id, "032x")
    assert clean.relay() == 1
    with receiver() as collector:
        kassa = str(Path(sys.executable).with_name("kassa"))
        done = subprocess.run(
            [kassa, "worker", "--fork", "--burst", "--queue", "default"],
            env={**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.port}"},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        exported = b"".join(r.body for r in collector.received if r.path == "/v1/traces")
    assert b"job core.webhooks.jobs.sweep_deliveries" in exported
    assert cause.get_span_context().trace_id.to_bytes(16, "big") in exported
    assert cause.get_span_context().span_id.to_bytes(8, "big") in exported  # the job span's parent
