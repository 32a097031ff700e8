"""Webhook delivery end to end: a real receiver on loopback verifies every delivery with the third-party
`standardwebhooks` package; retries move by time travel through the outbox; the real RQ worker delivers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook, WebhookVerificationError

from core.audit.models import AuditEvent
from core.clock import FrozenClock
from core.events.models import Event
from core.jobs.runtime import Runtime
from core.notifications.kinds import Kind
from core.notifications.models import Notification
from core.payments import serialize
from core.webhooks import service, signing
from core.webhooks.models import DeliveryStatus, EndpointStatus
from tests.fixtures import Factories
from tests.webhooks_helpers import (
    attempts,
    create_endpoint,
    ctx,
    deliveries,
    drain,
    endpoint,
    fan_out,
    receiver,
)


@pytest.fixture
def rt(clean: Runtime, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    """Deliveries may go to loopback (the test receiver): KASSA_WEBHOOKS_ALLOW_PRIVATE=1, as in
    development."""
    opened = clean.settings.with_changes(webhooks_allow_private=True, webhook_timeout_seconds=3.0)
    monkeypatch.setattr(clean, "settings", opened)
    return clean


@pytest.fixture
def clock(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    frozen = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    monkeypatch.setattr(rt, "clock", frozen)
    return frozen


SUCCEEDED = ["payment.succeeded"]


def _event(rt: Runtime, make: Factories, tenant) -> Event:  # type: ignore[no-untyped-def]
    """A payment's `payment.succeeded` event (its emit queued the webhooks subscriber's fan-out)."""
    payment = make.payments(tenant=tenant)
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        event = uow.session.scalars(
            select(Event).where(Event.object_id == payment.id, Event.type == "payment.succeeded")
        ).first()
        assert event is not None
        return event


def test_a_receiver_verifies_every_delivery_and_rejects_tampering(rt: Runtime, make: Factories) -> None:
    tenant = make.tenants()
    with receiver() as hook:
        _made, secret = create_endpoint(rt, tenant, hook.url, events=SUCCEEDED)
        event = _event(rt, make, tenant)
        drain(rt)
        assert len(hook.received) == 1
    got = hook.received[0]
    assert got.headers["webhook-id"] == event.id
    body = Webhook(secret).verify(got.body, got.headers)
    assert body["type"] == event.type and body["data"] == event.data and body["sequence"] == event.sequence
    assert body["timestamp"].endswith("Z")
    with pytest.raises(WebhookVerificationError):  # a tampered body
        Webhook(secret).verify(got.body.replace(b'"amount":', b'"amount":1'), got.headers)
    with pytest.raises(WebhookVerificationError):  # a wrong secret
        Webhook(signing.new_secret()).verify(got.body, got.headers)
    stale = signing.headers(
        [secret], msg_id=event.id, timestamp=datetime.now(UTC) - timedelta(minutes=10), body=got.body
    )
    with pytest.raises(WebhookVerificationError):  # a stale timestamp, correctly signed
        Webhook(secret).verify(got.body, stale)
    [delivery] = deliveries(rt, tenant)
    assert delivery.status is DeliveryStatus.SUCCEEDED and delivery.attempts == 1
    [attempt] = attempts(rt, tenant)
    assert attempt.status == 200 and attempt.succeeded and attempt.response_excerpt == '{"ok": true}'
    assert attempt.address == "127.0.0.1"


def test_an_event_is_delivered_once_even_when_the_fan_out_runs_twice(rt: Runtime, make: Factories) -> None:
    tenant = make.tenants()
    with receiver() as hook:
        create_endpoint(rt, tenant, hook.url, events=SUCCEEDED)
        event = _event(rt, make, tenant)
        drain(rt)
        assert fan_out(rt, tenant, event.id) == 0, "the subscriber made it; running again makes none"
        drain(rt)
    assert len(hook.received) == 1


def test_endpoints_receive_only_their_types_and_their_mode(rt: Runtime, make: Factories) -> None:
    tenant = make.tenants()
    with receiver() as hook:
        create_endpoint(rt, tenant, hook.url, events=["refund.created"])
        live = hook.url.replace("http://", "https://")
        create_endpoint(rt, tenant, live, livemode=True, policy=service.Policy(allow_private=True))
        _event(rt, make, tenant)  # test-mode payment events, none a refund.created
        drain(rt)
    assert hook.received == []


def test_failed_deliveries_are_retried_on_the_schedule_until_the_receiver_answers(
    rt: Runtime, make: Factories, clock: FrozenClock
) -> None:
    tenant = make.tenants()
    with receiver(status=500) as hook:
        _made, secret = create_endpoint(rt, tenant, hook.url, events=SUCCEEDED)
        event = _event(rt, make, tenant)
        drain(rt)
        assert len(hook.received) == 1
        for retry, base in enumerate(service.RETRY_SCHEDULE[:3], start=1):
            [delivery] = deliveries(rt, tenant)
            wait = delivery.next_attempt_at - clock.now()  # type: ignore[operator]
            # The documented back-off, with its jitter; the first retry within 30 seconds.
            assert timedelta(seconds=base * 0.9) <= wait <= timedelta(seconds=base * 1.1)
            clock.advance(seconds=base * 0.85)
            drain(rt)
            assert len(hook.received) == retry, "no retry before its time"
            clock.advance(seconds=base * 0.26)
            if retry == 3:
                hook.status = 200
            drain(rt)
            assert len(hook.received) == retry + 1
    assert service.RETRY_SCHEDULE[0] * 1.1 <= 30
    ids = {r.headers["webhook-id"] for r in hook.received}
    assert ids == {event.id}, "the webhook-id is the event id on every attempt"
    for got in hook.received:
        Webhook(secret).verify(got.body, got.headers)
    [delivery] = deliveries(rt, tenant)
    assert delivery.status is DeliveryStatus.SUCCEEDED and delivery.attempts == 4
    assert [a.status for a in attempts(rt, tenant)] == [500, 500, 500, 200]


def test_the_schedule_lasts_about_three_days() -> None:
    total = sum(service.RETRY_SCHEDULE)
    assert timedelta(days=2, hours=20) <= timedelta(seconds=total) <= timedelta(days=3, hours=4)
    assert service.retry_delay(len(service.RETRY_SCHEDULE) + 1) is None


def test_410_gone_disables_the_endpoint(rt: Runtime, make: Factories, clock: FrozenClock) -> None:
    tenant = make.tenants()
    with receiver(status=410) as hook:
        made, _ = create_endpoint(rt, tenant, hook.url, events=SUCCEEDED)
        _event(rt, make, tenant)
        drain(rt)
        clock.advance(days=4)
        drain(rt)
        assert len(hook.received) == 1, "no retry after 410"
        later = _event(rt, make, tenant)
        drain(rt)
        assert fan_out(rt, tenant, later.id) == 0
    gone = endpoint(rt, tenant, made.id)
    assert gone.status is EndpointStatus.DISABLED and not gone.enabled
    assert gone.disabled_reason and "410" in gone.disabled_reason
    [delivery] = deliveries(rt, tenant)
    assert delivery.status is DeliveryStatus.DEAD


def test_an_outage_for_the_whole_schedule_ends_in_a_dead_letter_a_failing_flag_and_an_alert(
    rt: Runtime, make: Factories, clock: FrozenClock
) -> None:
    tenant = make.tenants()
    with receiver(status=503) as hook:
        made, _ = create_endpoint(rt, tenant, hook.url, events=SUCCEEDED)
        _event(rt, make, tenant)
        drain(rt)
        for base in service.RETRY_SCHEDULE:
            clock.advance(seconds=base * 1.1 + 1)
            drain(rt)
        assert len(hook.received) == 1 + len(service.RETRY_SCHEDULE)
        clock.advance(days=7)
        drain(rt)
        assert len(hook.received) == 1 + len(service.RETRY_SCHEDULE), "nothing after the last retry"
    [delivery] = deliveries(rt, tenant)
    assert delivery.status is DeliveryStatus.DEAD
    failing = endpoint(rt, tenant, made.id)
    assert failing.status is EndpointStatus.FAILING and failing.failing_since is not None
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        alerts = uow.session.scalars(select(Event).where(Event.type == "webhook_endpoint.failing")).all()
        assert [a.object_id for a in alerts] == [made.id]
        assert alerts[0].data["status"] == "failing" and "secret" not in alerts[0].data
        audited = uow.session.scalars(select(AuditEvent.action).where(AuditEvent.subject_id == made.id)).all()
        assert "webhook_delivery.dead" in audited
        # The alert is for people (the notification center), not delivered to webhook endpoints.
        assert service.fan_out(uow.session, ctx(rt, uow), event_id=alerts[0].id) == []
        # ... and the merchant has it: the owner's bell (and email) via the notifications subscriber.
        [alert] = uow.session.scalars(select(Notification)).all()
        assert alert.kind is Kind.WEBHOOK_ENDPOINT_FAILING and hook.url in alert.title


def test_a_failing_endpoint_becomes_active_when_a_delivery_succeeds(
    rt: Runtime, make: Factories, clock: FrozenClock
) -> None:
    tenant = make.tenants()
    with receiver(status=500) as hook:
        made, _ = create_endpoint(rt, tenant, hook.url, events=SUCCEEDED)
        _event(rt, make, tenant)
        drain(rt)
        for base in service.RETRY_SCHEDULE:
            clock.advance(seconds=base * 1.1 + 1)
            drain(rt)
        assert endpoint(rt, tenant, made.id).status is EndpointStatus.FAILING
        hook.status = 200
        with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
            replayed = service.replay(
                uow.session, ctx(rt, uow), endpoint_id=made.id, since=clock.now() - timedelta(days=30)
            )
            assert [d.id for d in replayed] == [d.id for d in deliveries(rt, tenant)]
        drain(rt)
    assert endpoint(rt, tenant, made.id).status is EndpointStatus.ACTIVE
    assert [d.status for d in deliveries(rt, tenant)] == [DeliveryStatus.SUCCEEDED]


def test_during_a_rotation_both_the_old_and_the_new_secret_verify(
    rt: Runtime, make: Factories, clock: FrozenClock
) -> None:
    tenant = make.tenants()
    with receiver() as hook:
        made, old = create_endpoint(rt, tenant, hook.url, events=SUCCEEDED)
        with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
            _, new = service.rotate_secret(
                uow.session, ctx(rt, uow), endpoint_id=made.id, overlap=timedelta(hours=1)
            )
        assert new != old and new.startswith("whsec_")
        _event(rt, make, tenant)
        drain(rt)
        clock.advance(hours=2)
        _event(rt, make, tenant)
        drain(rt)
    during, after = hook.received
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(during.body, during.headers)
    Webhook(new).verify(during.body, during.headers)
    Webhook(new).verify(after.body, after.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(after.body, after.headers)


def test_the_secret_is_stored_sealed(rt: Runtime, make: Factories) -> None:
    tenant = make.tenants()
    made, secret = create_endpoint(rt, tenant, "http://127.0.0.1:9/")
    row = endpoint(rt, tenant, made.id)
    assert secret.encode() not in row.secret_sealed
    assert secret[len("whsec_") :].encode() not in row.secret_sealed


def test_a_test_event_is_signed_and_delivered(rt: Runtime, make: Factories) -> None:
    tenant = make.tenants()
    with receiver() as hook:
        made, secret = create_endpoint(rt, tenant, hook.url, events=SUCCEEDED)
        with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
            delivery = service.send_test_event(uow.session, ctx(rt, uow), endpoint_id=made.id)
        drain(rt)
    [got] = hook.received
    body = Webhook(secret).verify(got.body, got.headers)
    assert body["type"] == "webhook_endpoint.test" and body["data"]["id"] == made.id
    assert got.headers["webhook-id"] == delivery.id


def test_resend_delivers_the_same_message_again(rt: Runtime, make: Factories) -> None:
    tenant = make.tenants()
    with receiver() as hook:
        create_endpoint(rt, tenant, hook.url, events=SUCCEEDED)
        _event(rt, make, tenant)
        drain(rt)
        [delivery] = deliveries(rt, tenant)
        with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
            service.resend(uow.session, ctx(rt, uow), delivery_id=delivery.id)
        drain(rt)
    first, second = hook.received
    assert first.body == second.body and first.headers["webhook-id"] == second.headers["webhook-id"]


def test_a_thin_endpoint_gets_the_id_and_type_only(rt: Runtime, make: Factories) -> None:
    tenant = make.tenants()
    with receiver() as hook:
        create_endpoint(rt, tenant, hook.url, events=SUCCEEDED, payload="thin")
        event = _event(rt, make, tenant)
        drain(rt)
    body = json.loads(hook.received[0].body)
    assert body["data"] == {"id": event.object_id, "object": "payment"}


def test_the_payload_data_is_the_api_representation(rt: Runtime, make: Factories) -> None:
    tenant = make.tenants()
    payment = make.payments(tenant=tenant)
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        from core.payments import service as payments

        now = serialize.payment(payments.get(uow.session, payment_id=payment.id))
        last = uow.session.scalars(
            select(Event).where(Event.object_id == payment.id).order_by(Event.sequence.desc())
        ).first()
        assert last is not None and last.data == now
