"""The operator view (`/portal/operations`): failed jobs retried from the page (one, or a queue's all) on real
Redis with the real RQ worker, audited and CSRF-protected; the operator permissions (a merchant's owner gets
404, an operator tenant's on-call role sees and retries but reads no payments); outbox lag and the recent
unexpected errors, without card data, in the page and in `kassa status`."""

from __future__ import annotations

import json
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import select

from core.audit.models import AuditEvent
from core.jobs import runtime as runtime_module
from core.jobs import status
from core.jobs.runtime import Runtime
from tenants.permissions import Permission
from tests.core.test_observability import _EXPORTER, spans  # noqa: F401 (spans: the SDK, in memory)
from tests.factories import MadeTenant
from tests.fixtures import Factories
from tests.payments_helpers import auth, work
from tests.portal.team_helpers import add_member, custom_role, give_role
from tests.portal.test_sign_in import csrf_token, sign_in
from tests.test_route_permissions import sign_in_as

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

#: Set by the test once "the upstream is fixed"; until then the job fails.
FIXED = "kassa:test:operations:fixed"
#: What the job did, once it ran.
RAN = "kassa:test:operations:ran"
FLAKY = "tests.portal.test_operations_page.flaky_job"


def flaky_job(note: str) -> str:
    """A job that fails until FIXED is set (a downstream outage), then records that it ran."""
    redis = runtime_module.current().redis
    if not redis.get(FIXED):
        raise RuntimeError("the upstream is not ready")
    redis.rpush(RAN, note)
    return note


def failed_job(rt: Runtime, queue: str, note: str) -> str:
    """A real job, run by the real worker, that ends in the queue's failed-job registry."""
    job = rt.queue(queue).enqueue(FLAKY, note=note)
    work(rt)
    assert job.id in FailedJobRegistry(queue=rt.queue(queue)).get_job_ids()
    return job.id


def ran(rt: Runtime) -> list[str]:
    return sorted(v.decode() if isinstance(v, bytes) else v for v in rt.redis.lrange(RAN, 0, -1))


def audited(rt: Runtime, tenant: MadeTenant) -> list[AuditEvent]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        return list(uow.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


@pytest.fixture
def operator(
    client: FlaskClient, make: Factories, clean: Runtime, monkeypatch: pytest.MonkeyPatch
) -> MadeTenant:
    """Kassa's own staff tenant, named in KASSA_OPERATOR_TENANTS, its owner signed in."""
    tenant = make.tenants(name="Kassa Operations")
    monkeypatch.setattr(
        clean, "settings", clean.settings.with_changes(operator_tenants=(tenant.tenant.slug,))
    )
    sign_in(client, tenant)
    return tenant


def test_a_failed_job_is_retried_from_the_page_and_then_runs(
    client: FlaskClient, clean: Runtime, operator: MadeTenant
) -> None:
    job_id = failed_job(clean, "webhooks", "one")
    page = client.get("/portal/operations").get_data(as_text=True)
    assert job_id in page and "RuntimeError: the upstream is not ready" in page
    assert f'<span class="visually-hidden"> job {job_id}</span>' in page  # its Retry button
    assert "Retry all failed webhooks jobs (1)" in page  # the queue has a failed job: "Retry all"
    form = {"queue": "webhooks", "job_id": job_id}

    refused = client.post("/portal/operations/failed/retry", data=form)  # no CSRF token
    assert refused.status_code == 400
    assert job_id in FailedJobRegistry(queue=clean.queue("webhooks")).get_job_ids()

    clean.redis.set(FIXED, "1")
    retried = client.post("/portal/operations/failed/retry", data={**form, "csrf_token": csrf_token(page)})
    assert retried.status_code == 303 and retried.location.endswith("/portal/operations?retried=1")
    assert "1 failed job(s) put back on their queue." in client.get(retried.location).get_data(as_text=True)
    assert FailedJobRegistry(queue=clean.queue("webhooks")).count == 0 and clean.queue("webhooks").count == 1
    work(clean)
    assert ran(clean) == ["one"]
    assert Job.fetch(job_id, connection=clean.redis, serializer=JSONSerializer).get_status() == "finished"

    [event] = [e for e in audited(clean, operator) if e.action == "operations.job.retried"]
    assert (event.subject_type, event.subject_id) == ("job", job_id)

    # Retried already (another operator, a second click): nothing happens, and the page says so.
    again = client.post("/portal/operations/failed/retry", data={**form, "csrf_token": csrf_token(page)})
    assert again.status_code == 303 and again.location.endswith("?retried=0")
    assert "Nothing was retried" in client.get(again.location).get_data(as_text=True)
    assert ran(clean) == ["one"]


def test_retry_all_puts_back_every_failed_job_of_one_queue(
    client: FlaskClient, clean: Runtime, operator: MadeTenant
) -> None:
    failed_job(clean, "default", "a")
    failed_job(clean, "default", "b")
    other = failed_job(clean, "payouts", "c")
    token = csrf_token(client.get("/portal/operations").get_data(as_text=True))
    clean.redis.set(FIXED, "1")
    answer = client.post(
        "/portal/operations/failed/retry-all", data={"queue": "default", "csrf_token": token}
    )
    assert answer.status_code == 303 and answer.location.endswith("?retried=2")
    work(clean)
    assert ran(clean) == ["a", "b"]
    assert FailedJobRegistry(queue=clean.queue("payouts")).get_job_ids() == [other]  # another queue's stays
    [event] = [e for e in audited(clean, operator) if e.action == "operations.queue.retried"]
    assert (event.subject_type, event.subject_id) == ("queue", "default")

    bad = client.post("/portal/operations/failed/retry-all", data={"queue": "nope", "csrf_token": token})
    assert bad.status_code == 404
    empty = client.post("/portal/operations/failed/retry", data={"queue": "default", "csrf_token": token})
    assert empty.status_code == 400 and "Name the queue and the failed job" in empty.get_data(as_text=True)


def test_a_merchants_owner_gets_404_and_an_operator_role_needs_the_operator_permissions(
    app: Flask, client: FlaskClient, make: Factories, clean: Runtime, operator: MadeTenant
) -> None:
    job_id = failed_job(clean, "default", "x")
    form = {"queue": "default", "job_id": job_id}

    # A merchant's owner holds every permission of their own tenant, operations:* included: the pages
    # still do not exist for a tenant that is not an operator tenant.
    merchant = make.tenants(name="A Merchant")
    shop = app.test_client()
    sign_in(shop, merchant)
    token = csrf_token(shop.get("/portal/notifications").get_data(as_text=True))
    assert shop.get("/portal/operations").status_code == 404
    assert shop.post("/portal/operations/failed/retry", data={**form, "csrf_token": token}).status_code == 404
    assert (
        shop.post(
            "/portal/operations/failed/retry-all", data={"queue": "default", "csrf_token": token}
        ).status_code
        == 404
    )
    assert 'href="/portal/operations"' not in shop.get("/portal/").get_data(as_text=True)

    # In the operator tenant: an on-call role holding only the operator permissions sees and retries, and
    # reads no merchant data; one holding operations:read alone sees the page without Retry buttons.
    on_call = custom_role(
        clean, operator, "On call", {Permission.OPERATIONS_READ, Permission.OPERATIONS_MANAGE}
    )
    watcher = custom_role(clean, operator, "Watcher", {Permission.OPERATIONS_READ})
    email, secret = add_member(clean, operator, "viewer", email="oncall@kassa.example")  # type: ignore[arg-type]
    give_role(clean, operator, email, on_call)
    staff = app.test_client()
    sign_in_as(staff, email, secret)
    page = staff.get("/portal/operations").get_data(as_text=True)
    assert 'href="/portal/operations"' in page and f"job {job_id}</span>" in page
    assert staff.get("/portal/payments").status_code == 403
    answer = staff.post("/portal/operations/failed/retry", data={**form, "csrf_token": csrf_token(page)})
    assert answer.status_code == 303 and answer.location.endswith("?retried=1")

    other = failed_job(clean, "default", "y")
    give_role(clean, operator, email, watcher)
    page = staff.get("/portal/operations").get_data(as_text=True)
    assert other in page and f"job {other}</span>" not in page and "Retry all" not in page
    token = csrf_token(staff.get("/portal/notifications").get_data(as_text=True))
    denied = staff.post(
        "/portal/operations/failed/retry", data={"queue": "default", "job_id": other, "csrf_token": token}
    )
    assert denied.status_code == 403
    assert other in FailedJobRegistry(queue=clean.queue("default")).get_job_ids()


def test_outbox_lag_and_recent_errors_without_card_data(
    app: Flask, client: FlaskClient, clean: Runtime, operator: MadeTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.reports import queries

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("rollup exploded near 4242 4242 4242 4242")

    monkeypatch.setattr(queries, "summary", broken)
    answer = client.get("/api/v1/reports/summary", headers=auth(operator.keys.secret_key))
    assert answer.status_code == 500
    request_id = answer.headers["X-Request-Id"]

    page = client.get("/portal/operations").get_data(as_text=True)
    section = page.split("<h2>Recent errors</h2>", 1)[1]
    assert '<code class="wrap">/api/v1/reports/summary</code>' in section and request_id in section
    assert "RuntimeError: rollup exploded near ************4242" in section
    assert "4242 4242 4242 4242" not in page and "4242424242424242" not in page
    assert re.search(r"<dt>Outbox lag</dt><dd>\d+ s</dd>", page)
    assert "<dt>Replica lag</dt><dd>no replica</dd>" in page

    cli = app.test_cli_runner()
    body = json.loads(cli.invoke(args=["status", "--json"]).output)
    [error] = body["recent_errors"]
    assert error["request_id"] == request_id and error["status"] == 500 and error["method"] == "GET"
    assert error["route"] == "/api/v1/reports/summary" and "4242 4242" not in error["error"]
    assert body["replica"] is None and isinstance(body["outbox"]["lag_seconds"], int)
    text = cli.invoke(args=["status"]).output
    assert "recent errors:" in text and f"request {request_id}" in text
    assert "replica: none (reports read the main database)" in text


@pytest.mark.usefixtures("spans")
def test_a_recent_error_carries_the_trace_id_of_its_request(
    client: FlaskClient, clean: Runtime, operator: MadeTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.reports import queries

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("rollup exploded")

    monkeypatch.setattr(queries, "summary", broken)
    answer = client.get("/api/v1/reports/summary", headers=auth(operator.keys.secret_key))
    assert answer.status_code == 500
    request_id = answer.headers["X-Request-Id"]
    # The request's spans (the exporter may be attached more than once in a long run: one per span id),
    # and among them the root, the one whose parent is not one of them.
    spans_of_request = {
        s.context.span_id: s
        for s in _EXPORTER.get_finished_spans()
        if s.context is not None and (s.attributes or {}).get("kassa.request_id") == request_id
    }
    [root] = [
        s for s in spans_of_request.values() if s.parent is None or s.parent.span_id not in spans_of_request
    ]
    [error] = status.recent_errors(clean.redis)
    assert root.context is not None and error.trace_id == format(root.context.trace_id, "032x")
    page = client.get("/portal/operations").get_data(as_text=True)
    assert f'trace <code class="wrap">{error.trace_id}</code>' in page
