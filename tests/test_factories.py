"""The factories make what they say, through the services: every row audited, evented and booked as
production's would be."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.audit import service as audit
from core.audit.models import ActorType, AuditEvent
from core.events.models import Event
from core.jobs.runtime import Runtime
from core.ledger import service as ledger
from core.ledger.models import Account
from core.payments import service
from tests.factories import PaymentFactory
from tests.fixtures import Factories
from tests.payments_helpers import work


def audited(rt: Runtime, tenant_id: str, subject_id: str) -> list[str]:
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        return list(
            uow.session.scalars(
                select(AuditEvent.action).where(AuditEvent.subject_id == subject_id).order_by(AuditEvent.seq)
            )
        )


def event_types(rt: Runtime, tenant_id: str, object_id: str) -> list[str]:
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        return list(
            uow.session.scalars(
                select(Event.type).where(Event.object_id == object_id).order_by(Event.sequence)
            )
        )


def test_a_tenant_comes_with_keys_and_an_owner_who_can_sign_in(make: Factories, clean: Runtime) -> None:
    a, b = make.tenants(), make.tenants(name="Corner Store", country="US", currency="USD")
    assert a.id != b.id and a.tenant.slug != b.tenant.slug and a.owner_email != b.owner_email
    assert (b.tenant.name, b.tenant.country, b.tenant.default_currency) == ("Corner Store", "US", "USD")
    assert a.keys.secret_key.startswith("sk_test_") and len(a.code()) == 6
    assert make.sessions(tenant=b).currency == "USD"  # the tenant's own currency unless told
    assert audited(clean, a.id, a.id) == ["tenant.created"]
    with clean.db.unit_of_work(tenant_id=a.id) as uow:
        assert audit.verify(uow.session, tenant_id=a.id, kms=clean.kms) == []


def test_a_session_is_made_like_the_apis_with_its_fields(make: Factories, clean: Runtime) -> None:
    tenant = make.tenants()
    cs = make.sessions(tenant=tenant, amount=1234, capture="manual", customer_email="ann@example.com")
    assert (cs.amount, cs.currency, str(cs.status), cs.customer_email) == (
        1234,
        "EUR",
        "open",
        "ann@example.com",
    )
    assert cs.payment_methods == ["card", "wallet", "bank"]  # the tenant's checkout settings
    assert event_types(clean, tenant.id, cs.id) == ["checkout.session.created"]
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        actor = uow.session.scalars(select(AuditEvent).where(AuditEvent.subject_id == cs.id)).one()
        assert actor.action == "checkout.session.created" and actor.actor_type is ActorType.API_KEY


def test_payments_in_every_outcome(make: Factories, clean: Runtime) -> None:
    tenant = make.tenants()
    paid = make.payments(tenant=tenant, amount=1999)
    assert (str(paid.status), paid.amount, paid.amount_captured, paid.card_last4) == (
        "succeeded",
        1999,
        1999,
        "4242",
    )
    assert event_types(clean, tenant.id, paid.id) == ["payment.created", "payment.succeeded"]
    assert "payment.created" in audited(clean, tenant.id, paid.id)
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:  # the worker booked it
        assert (
            ledger.account_balance(
                uow.session, tenant_id=tenant.id, account=Account.PROCESSOR_RECEIVABLE, currency="EUR"
            )
            == 1999
        )

    failed = make.payments(tenant=tenant, failed=True)
    assert (str(failed.status), failed.failure_code) == ("failed", "card_declined")
    authorized = make.payments(tenant=tenant, authorized=True)
    assert (str(authorized.status), authorized.amount_captured) == ("authorized", 0)
    pending = make.payments(tenant=tenant, pending=True)
    assert str(pending.status) == "pending"
    work(clean)  # its job was queued like production's
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        assert str(service.get(uow.session, payment_id=pending.id).status) == "succeeded"

    direct = make.payments(tenant=tenant, via="service", amount=700)
    assert (str(direct.status), direct.amount_captured) == ("succeeded", 700)
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        assert audit.verify(uow.session, tenant_id=tenant.id, kms=clean.kms) == []


def test_a_payment_that_does_not_come_out_as_asked_fails_the_factory(make: Factories) -> None:
    tenant = make.tenants()
    with pytest.raises(AssertionError, match="made a failed payment, not succeeded"):
        make.payments(tenant=tenant, card_number="4000000000000002")


def test_factories_never_build_rows_around_the_services(clean: Runtime) -> None:
    with pytest.raises(TypeError, match="through the services"):
        PaymentFactory.build(rt=clean)


def test_refunds_and_events(make: Factories, clean: Runtime) -> None:
    tenant = make.tenants()
    paid = make.payments(tenant=tenant, amount=5000)
    part = make.refunds(tenant=tenant, payment=paid, amount=1500)
    rest = make.refunds(tenant=tenant, payment=paid)
    assert (part.amount, rest.amount, str(rest.status)) == (1500, 3500, "succeeded")
    assert audited(clean, tenant.id, part.id) == ["payment.refund.created"]
    assert event_types(clean, tenant.id, part.id) == ["refund.created", "refund.succeeded"]
    own = make.refunds(tenant=tenant)  # on a new succeeded payment
    assert own.amount == 2500 and own.payment_id != paid.id

    event = make.events(tenant=tenant, subject=paid, type="payment.refunded")
    assert (event.sequence, event.object_type, event.data["amount_refunded"]) == (5, "payment", 5000)
    assert event_types(clean, tenant.id, paid.id)[-1] == "payment.refunded"
    on_refund = make.events(tenant=tenant, subject=part, type="refund.created")
    assert (on_refund.sequence, on_refund.object_type, on_refund.livemode) == (3, "refund", False)
    with pytest.raises(TypeError, match="type="):
        make.events(tenant=tenant, subject=paid)
