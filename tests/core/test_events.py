"""core/events: sequences per object, the subscribers' outbox jobs, and what a transaction remembers."""

from __future__ import annotations

from sqlalchemy import select

from core import events
from core.context import Actor
from core.events import EventType, subscribers
from core.events.models import Event
from core.jobs.outbox import OutboxMessage
from core.jobs.runtime import Runtime
from core.payments import serialize, service
from tests.fixtures import Factories

TESTER = Actor.system("test")


def _sequences(rt: Runtime, tenant_id: str, object_id: str) -> list[int]:
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        return list(
            uow.session.scalars(
                select(Event.sequence).where(Event.object_id == object_id).order_by(Event.sequence)
            )
        )


def test_a_transaction_numbers_one_objects_events_on_and_a_rolled_back_savepoint_forgets(
    clean: Runtime, make: Factories
) -> None:
    tenant = make.tenants()
    payment = make.payments(tenant=tenant)
    before = _sequences(clean, tenant.id, payment.id)
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        ctx = clean.context(uow, TESTER)
        locked = service.get(uow.session, payment_id=payment.id, lock=True)
        data = serialize.payment(locked)
        first = events.emit(uow.session, ctx, EventType.PAYMENT_SUCCEEDED, subject=locked, data=data)
        savepoint = uow.session.begin_nested()
        events.emit(uow.session, ctx, EventType.PAYMENT_SUCCEEDED, subject=locked, data=data)
        savepoint.rollback()  # that event is gone: the next one takes its number again
        third = events.emit(uow.session, ctx, EventType.PAYMENT_SUCCEEDED, subject=locked, data=data)
    assert (first.sequence, third.sequence) == (before[-1] + 1, before[-1] + 2)
    assert _sequences(clean, tenant.id, payment.id) == [*before, before[-1] + 1, before[-1] + 2]


def test_an_object_made_in_the_transaction_starts_at_one_and_subscribers_get_one_job_each(
    clean: Runtime, make: Factories
) -> None:
    tenant = make.tenants()
    cs = make.sessions(tenant=tenant)
    assert _sequences(clean, tenant.id, cs.id) == [1]  # checkout.session.created
    hearing = subscribers.for_type(EventType.CHECKOUT_SESSION_COMPLETED)
    assert [s.name for s in hearing] == [
        s.name for s in subscribers.SUBSCRIBERS if s.hears(EventType.CHECKOUT_SESSION_COMPLETED)
    ]
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        ctx = clean.context(uow, TESTER)
        data = serialize.checkout_session(cs, base_url=clean.settings.base_url)
        event = events.emit(uow.session, ctx, EventType.CHECKOUT_SESSION_COMPLETED, subject=cs, data=data)
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        jobs = uow.session.scalars(
            select(OutboxMessage).where(OutboxMessage.kwargs["event_id"].as_string() == event.id)
        ).all()
    # The webhooks subscriber hears every type but wants none of this tenant's: it has no endpoint
    # (tests/core/test_webhook_fan_out.py has the tenant with one).
    wanted = [s for s in hearing if s.wants is None]
    assert sorted(j.job for j in jobs) == sorted(s.job for s in wanted)
    assert all(j.kwargs == {"tenant_id": tenant.id, "event_id": event.id} for j in jobs)
    assert event.sequence == 2 and event.object_type == "checkout.session"
