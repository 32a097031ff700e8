"""Each event type is emitted by the flow that causes it and delivered to an endpoint that subscribed, with
`data` equal to the object's API representation at that moment (payout.* come from the payouts feature,
refund.failed needs a declining processor: both are deliverable like any type, see test_webhooks.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from core.context import Actor
from core.jobs.runtime import Runtime
from core.payments import serialize, service, sessions
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
    "checkout.session.completed": session_completed,
    "checkout.session.expired": session_expired,
}


@pytest.mark.parametrize("event_type", sorted(FLOWS))
def test_the_flow_emits_the_type_and_the_delivery_carries_the_object(
    clean: Runtime, make: Factories, monkeypatch: pytest.MonkeyPatch, event_type: str
) -> None:
    monkeypatch.setattr(clean, "settings", clean.settings.with_changes(webhooks_allow_private=True))
    tenant = make.tenants()
    with receiver() as hook:
        create_endpoint(clean, tenant, hook.url, events=[event_type])
        shown = FLOWS[event_type](clean, make, tenant)
        drain(clean)
    bodies = [json.loads(r.body) for r in hook.received]
    assert [b["type"] for b in bodies] == [event_type]
    assert bodies[0]["data"] == shown
