"""Event retention: events are kept 90 days (KASSA_EVENT_RETENTION_DAYS, no less), then the hourly
`kassa cron` job deletes them in batches; the events API's `since` cursor survives its event being pruned,
and an event a webhook delivery still retries is kept until the delivery is done. Time travel, the real
worker, a real receiver verifying with `standardwebhooks`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from standardwebhooks import Webhook

from core.audit import service as audit
from core.audit.models import AuditEvent
from core.clock import FrozenClock
from core.config import ConfigurationError
from core.events.models import Event
from core.jobs.runtime import Runtime
from core.payments.models import Payment
from core.webhooks import jobs as webhook_jobs
from core.webhooks import retention, service
from core.webhooks.models import DeliveryStatus
from tests.factories import MadeTenant
from tests.fixtures import Factories
from tests.payments_helpers import auth
from tests.webhooks_helpers import create_endpoint, ctx, deliveries, drain, receiver


@pytest.fixture
def hrt(clean: Runtime, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    opened = clean.settings.with_changes(webhooks_allow_private=True, webhook_timeout_seconds=3.0)
    monkeypatch.setattr(clean, "settings", opened)
    monkeypatch.setattr(clean, "clock", FrozenClock(datetime.now(UTC).replace(microsecond=0)))
    return clean


def _clock(hrt: Runtime) -> FrozenClock:
    assert isinstance(hrt.clock, FrozenClock)
    return hrt.clock


def _event_ids(hrt: Runtime, tenant: MadeTenant) -> list[str]:
    with hrt.db.unit_of_work(tenant_id=tenant.id) as uow:
        return list(uow.session.scalars(select(Event.id).order_by(Event.id)))


def _cron_prune(hrt: Runtime, tenant: MadeTenant) -> None:
    """What `kassa cron` enqueues every hour for each tenant, run by the real worker."""
    with hrt.db.unit_of_work(tenant_id=tenant.id) as uow:
        hrt.enqueue(uow, webhook_jobs.prune_events, tenant_id=tenant.id, kwargs={"tenant_id": tenant.id})
    drain(hrt)


def _more_events(hrt: Runtime, make: Factories, tenant: MadeTenant, payment_id: str, count: int) -> None:
    with hrt.db.unit_of_work(tenant_id=tenant.id) as uow:
        payment = uow.session.scalars(select(Payment).where(Payment.id == payment_id)).one()
    for _ in range(count):
        make.events(tenant=tenant, subject=payment, type="payment.succeeded")


def test_events_are_kept_90_days_then_pruned_in_batches_and_the_since_cursor_still_works(
    hrt: Runtime, make: Factories, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retention, "BATCH", 3)  # several batches in one run
    tenant, other = make.tenants(), make.tenants()
    payment = make.payments(tenant=tenant)
    _more_events(hrt, make, tenant, payment.id, 5)
    make.payments(tenant=other)
    old = _event_ids(hrt, tenant)
    others = _event_ids(hrt, other)
    assert len(old) > 2 * retention.BATCH
    cursor = old[1]  # a receiver that caught up to here, then went away

    _clock(hrt).advance(days=89, hours=23)
    _cron_prune(hrt, tenant)
    assert _event_ids(hrt, tenant) == old  # under 90 days: all kept

    _clock(hrt).advance(hours=2)
    fresh = make.payments(tenant=tenant)  # made after the travel: days younger than the cutoff
    new = [e for e in _event_ids(hrt, tenant) if e not in old]
    _cron_prune(hrt, tenant)
    assert _event_ids(hrt, tenant) == new
    assert _event_ids(hrt, other) == others  # each tenant's job prunes its own events only
    with hrt.db.unit_of_work(tenant_id=tenant.id) as uow:
        batches = [
            audit.read_details(uow.session, row, kms=hrt.kms) or {}
            for row in uow.session.scalars(
                select(AuditEvent).where(AuditEvent.action == "events.pruned").order_by(AuditEvent.seq)
            )
        ]
    assert sum(b["events"] for b in batches) == len(old) and len(batches) >= 3  # audited, one per batch

    listed = client.get(f"/api/v1/events?since={cursor}&limit=100", headers=auth(tenant.keys.secret_key))
    assert listed.status_code == 200, listed.json
    assert [e["id"] for e in listed.json["data"]] == new
    assert fresh.id in {e["data"]["id"] for e in listed.json["data"]}
    gone = client.get(f"/api/v1/events/{old[0]}", headers=auth(tenant.keys.secret_key))
    assert gone.status_code == 404


def test_an_event_a_delivery_still_retries_is_kept_until_it_is_delivered(
    hrt: Runtime, make: Factories
) -> None:
    tenant = make.tenants()
    with receiver(status=500) as hook:
        _, secret = create_endpoint(hrt, tenant, hook.url, events=["payment.succeeded"])
        payment = make.payments(tenant=tenant)
        drain(hrt)  # the first attempt fails: the delivery waits for its retry
        (delivery,) = deliveries(hrt, tenant)
        assert delivery.status is DeliveryStatus.PENDING
        held = delivery.event_id
        others = [e for e in _event_ids(hrt, tenant) if e != held]
        assert others  # payment.created and the rest: no delivery holds them
        # Past retention with the retry still due (a long worker outage, say): the job keeps that one.
        _clock(hrt).advance(days=91)
        assert webhook_jobs.prune_events(tenant_id=tenant.id) == len(others)
        assert _event_ids(hrt, tenant) == [held]
        hook.status = 200
        drain(hrt)
    verified = Webhook(secret).verify(hook.received[-1].body, hook.received[-1].headers)
    assert verified["type"] == "payment.succeeded" and verified["data"]["id"] == payment.id
    assert deliveries(hrt, tenant)[0].status is DeliveryStatus.SUCCEEDED
    webhook_jobs.prune_events(tenant_id=tenant.id)
    assert _event_ids(hrt, tenant) == []  # delivered: nothing holds it any more


def test_resending_a_delivery_whose_event_was_pruned_is_a_clear_409(
    hrt: Runtime, make: Factories, client: FlaskClient
) -> None:
    tenant = make.tenants()
    with receiver() as hook:
        create_endpoint(hrt, tenant, hook.url, events=["payment.succeeded"])
        make.payments(tenant=tenant)
        drain(hrt)
    (delivery,) = deliveries(hrt, tenant)
    _clock(hrt).advance(days=91)
    webhook_jobs.prune_events(tenant_id=tenant.id)
    answer = client.post(
        f"/api/v1/webhook_deliveries/{delivery.id}/resend", headers=auth(tenant.keys.secret_key)
    )
    assert answer.status_code == 409, answer.json
    assert answer.json["error"]["code"] == "webhook_event_pruned"
    with hrt.db.unit_of_work(tenant_id=tenant.id) as uow:
        replayed = service.replay(
            uow.session,
            ctx(hrt, uow),
            endpoint_id=delivery.endpoint_id,
            since=datetime(2000, 1, 1, tzinfo=UTC),
        )
    assert replayed == []


def test_a_retention_under_90_days_is_refused(hrt: Runtime) -> None:
    with pytest.raises(ConfigurationError, match="KASSA_EVENT_RETENTION_DAYS must be 90 or more"):
        hrt.settings.with_changes(event_retention_days=30)
    assert hrt.settings.with_changes(event_retention_days=400).event_retention_days == 400


def test_the_prune_job_runs_hourly_for_each_tenant() -> None:
    (entry,) = [c for c in webhook_jobs.CRON if c.job is webhook_jobs.prune_events]
    assert (entry.every_seconds, entry.per_tenant) == (3600.0, True)
