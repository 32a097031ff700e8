"""Each event type is emitted by the flow that causes it and delivered by the real worker to a real receiver
that verifies the signature with the `standardwebhooks` package, with `data` equal to the object's API
representation at that moment. `refund.failed` comes from the refund-failure test card (4000 0000 0000
5126, docs/api.md), `payout.paid` and `payout.failed` from the payout cron job and the sandbox bank (the
failing test IBAN, docs/payouts.md), moved along by time travel."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook

from core.clock import FrozenClock
from core.context import Actor
from core.jobs.runtime import Runtime
from core.payments import serialize, service, sessions
from core.payments.models import RefundStatus
from core.payouts import bank_accounts
from core.payouts import service as payouts
from core.payouts.models import Payout, PayoutStatus
from tests.factories import MadeTenant
from tests.fixtures import Factories
from tests.webhooks_helpers import create_endpoint, drain, receiver


def _payment(rt: Runtime, make: Factories, tenant: MadeTenant, **fields: Any) -> dict[str, Any]:
    payment = make.payments(tenant=tenant, **fields)
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        return serialize.payment(service.get(uow.session, payment_id=payment.id))


def succeeded(rt: Runtime, make: Factories, tenant: MadeTenant) -> dict[str, Any]:
    return _payment(rt, make, tenant)


def failed(rt: Runtime, make: Factories, tenant: MadeTenant) -> dict[str, Any]:
    return _payment(rt, make, tenant, failed=True)


def requires_action(rt: Runtime, make: Factories, tenant: MadeTenant) -> dict[str, Any]:
    return _payment(rt, make, tenant, card_number="4000 0027 6000 3184", expect="requires_action")


def _refunded(rt: Runtime, make: Factories, tenant: MadeTenant) -> tuple[dict[str, Any], dict[str, Any]]:
    refund = make.refunds(tenant=tenant)
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        payment = service.get(uow.session, payment_id=refund.payment_id)
        return serialize.payment(payment), serialize.refund(
            service.get_refund(uow.session, refund_id=refund.id)
        )


def payment_refunded(rt: Runtime, make: Factories, tenant: MadeTenant) -> dict[str, Any]:
    return _refunded(rt, make, tenant)[0]


def refund_succeeded(rt: Runtime, make: Factories, tenant: MadeTenant) -> dict[str, Any]:
    return _refunded(rt, make, tenant)[1]


def refund_failed(rt: Runtime, make: Factories, tenant: MadeTenant) -> dict[str, Any]:
    payment = make.payments(tenant=tenant, card_number="4000 0000 0000 5126")
    refund = make.refunds(tenant=tenant, payment=payment)
    assert refund.status is RefundStatus.FAILED
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        assert service.get(uow.session, payment_id=payment.id).amount_refunded == 0
        return serialize.refund(service.get_refund(uow.session, refund_id=refund.id))


def _cron_payouts(rt: Runtime, tenant: MadeTenant) -> None:
    """What `kassa cron` does every minute: the payout job for the tenant, through the outbox."""
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        rt.enqueue(uow, "core.payouts.jobs.run_payouts", tenant_id=tenant.id, kwargs={"tenant_id": tenant.id})
    drain(rt)


def _payout(rt: Runtime, make: Factories, tenant: MadeTenant, iban: str) -> dict[str, Any]:
    """A payment whose funds are available at once (4000 0000 0000 0077), a bank account, then the payout
    cron job: created and in transit, and paid (or failed) once the sandbox bank's minute has passed."""
    assert isinstance(rt.clock, FrozenClock)
    make.payments(tenant=tenant, card_number="4000 0000 0000 0077")
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        bank_accounts.add_bank_account(
            uow.session,
            rt.context(uow, Actor.system("test")),
            tenant_id=tenant.id,
            currency="EUR",
            account_holder="Shop GmbH",
            details=bank_accounts.validate(country="DE", iban=iban),
            requested_by=None,
        )
    _cron_payouts(rt, tenant)
    rt.clock.advance(minutes=2)
    _cron_payouts(rt, tenant)
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        (payout,) = uow.session.scalars(select(Payout)).all()
        assert payout.status in (PayoutStatus.PAID, PayoutStatus.FAILED)
        return payouts.serialize(payout)


def payout_paid(rt: Runtime, make: Factories, tenant: MadeTenant) -> dict[str, Any]:
    shown = _payout(rt, make, tenant, "DE89370400440532013000")
    assert shown["status"] == "paid"
    return shown


def payout_failed(rt: Runtime, make: Factories, tenant: MadeTenant) -> dict[str, Any]:
    shown = _payout(rt, make, tenant, "DE82370400440532013999")  # the sandbox bank's closed account
    assert (shown["status"], shown["failure_code"]) == ("failed", "account_closed")
    return shown


def session_completed(rt: Runtime, make: Factories, tenant: MadeTenant) -> dict[str, Any]:
    payment = make.payments(tenant=tenant)
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        cs = sessions.get(uow.session, session_id=payment.checkout_session_id)
        return serialize.checkout_session(cs, base_url=rt.settings.base_url)


def session_expired(rt: Runtime, make: Factories, tenant: MadeTenant) -> dict[str, Any]:
    cs = make.sessions(tenant=tenant)
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        expired = sessions.expire(uow.session, rt.context(uow, Actor.system("test")), session_id=cs.id)
        return serialize.checkout_session(expired, base_url=rt.settings.base_url)


FLOWS: dict[str, Callable[[Runtime, Factories, MadeTenant], dict[str, Any]]] = {
    "payment.succeeded": succeeded,
    "payment.failed": failed,
    "payment.requires_action": requires_action,
    "payment.refunded": payment_refunded,
    "refund.succeeded": refund_succeeded,
    "refund.failed": refund_failed,
    "payout.paid": payout_paid,
    "payout.failed": payout_failed,
    "checkout.session.completed": session_completed,
    "checkout.session.expired": session_expired,
}


@pytest.mark.parametrize("event_type", sorted(FLOWS))
def test_the_flow_emits_the_type_and_the_delivery_carries_the_object(
    clean: Runtime, make: Factories, monkeypatch: pytest.MonkeyPatch, event_type: str
) -> None:
    monkeypatch.setattr(clean, "settings", clean.settings.with_changes(webhooks_allow_private=True))
    monkeypatch.setattr(clean, "clock", FrozenClock(datetime.now(UTC).replace(microsecond=0)))
    tenant = make.tenants()
    with receiver() as hook:
        _, secret = create_endpoint(clean, tenant, hook.url, events=[event_type])
        shown = FLOWS[event_type](clean, make, tenant)
        drain(clean)
    verified = [Webhook(secret).verify(r.body, r.headers) for r in hook.received]
    assert [b["type"] for b in verified] == [event_type]
    assert verified[0]["data"] == shown
