"""Driving payments end to end in tests: API session -> confirm -> the real worker -> outcome."""

from __future__ import annotations

import html
import re
import time
from typing import Any

from flask.testing import FlaskClient
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from core.jobs.queues import QUEUE_NAMES
from core.jobs.runtime import Runtime
from core.payments import service
from core.payments.models import Payment
from tests.factories import SHOPPER, MadeTenant

__all__ = ["SHOPPER"]  # kept importable from here


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def create_session(client: FlaskClient, tenant: MadeTenant, **fields: Any) -> dict[str, Any]:
    body = {"amount": 2500, "currency": "EUR", **fields}
    response = client.post("/api/v1/checkout/sessions", json=body, headers=auth(tenant.keys.secret_key))
    assert response.status_code == 201, response.json
    return dict(response.json)


def confirm(rt: Runtime, tenant: MadeTenant, session_id: str, **fields: Any) -> str:
    data = service.PaymentInput(
        method=fields.pop("method", "card"),
        card_number=fields.pop("card_number", "4242 4242 4242 4242"),
        exp_month=fields.pop("exp_month", 12),
        exp_year=fields.pop("exp_year", 2034),
        cvc=fields.pop("cvc", "123"),
        client_ip=fields.pop("client_ip", "203.0.113.7"),
        customer_email=fields.pop("customer_email", None),
        postal_code=fields.pop("postal_code", None),
        country=fields.pop("country", tenant.tenant.country),
    )
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        payment = service.confirm(
            uow.session,
            rt.context(uow, SHOPPER),
            tenant_id=tenant.id,
            session_id=session_id,
            data=data,
        )
        return payment.id


def answer(rt: Runtime, tenant: MadeTenant, payment_id: str, result: str) -> None:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        service.complete_action(
            uow.session,
            rt.context(uow, SHOPPER),
            tenant_id=tenant.id,
            payment_id=payment_id,
            result=result,
        )


def work(rt: Runtime) -> None:
    """Run the real RQ worker over every queue until it is empty."""
    rt.relay()
    SimpleWorker(
        [rt.queue(name) for name in QUEUE_NAMES], connection=rt.redis, serializer=JSONSerializer
    ).work(burst=True)


def load(rt: Runtime, tenant: MadeTenant, payment_id: str) -> Payment:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        return service.get(uow.session, payment_id=payment_id)


def work_until_settled(rt: Runtime, tenant: MadeTenant, payment_id: str, timeout: float = 15.0) -> Payment:
    """Work, relaying delayed retries as they fall due, until the payment leaves `pending`."""
    deadline = time.monotonic() + timeout
    while True:
        work(rt)
        payment = load(rt, tenant, payment_id)
        if str(payment.status) != "pending" or time.monotonic() > deadline:
            return payment
        time.sleep(0.2)


CARD_FORM = {
    "method": "card",
    "number": "4242 4242 4242 4242",
    "expiry": "12 / 34",
    "cvc": "123",
    "name": "Ada",
}


def submit_pay_form(client: FlaskClient, session_id: str, **fields: str) -> Any:
    """GET the hosted page, then POST its form (with its CSRF token) like a browser without JavaScript."""
    page = client.get(f"/pay/{session_id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token is not None, page
    return client.post(f"/pay/{session_id}", data={"csrf_token": token.group(1), **CARD_FORM, **fields})


def page_text(response: Any) -> str:
    """A page's HTML with entities decoded and no-break spaces as plain ones (for `in` checks)."""
    return html.unescape(response.get_data(as_text=True)).replace("\u00a0", " ")
