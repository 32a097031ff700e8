"""Every test card of the design through the real worker, plus the money rules around them."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from core.errors import InvalidInput
from core.events.models import Event
from core.jobs.runtime import Runtime
from core.ledger import service as ledger
from core.payments.models import PaymentStatusChange
from core.vault import service as vault
from tests.fixtures import Factories
from tests.payments_helpers import answer, auth, confirm, create_session, load, work, work_until_settled


@pytest.mark.parametrize(
    ("card", "status", "failure_code"),
    [
        ("4242 4242 4242 4242", "succeeded", None),
        ("4000 0000 0000 0002", "failed", "card_declined"),
        ("4000 0000 0000 9995", "failed", "insufficient_funds"),
        ("4000 0000 0000 0069", "failed", "expired_card"),
        ("5555 5555 5555 4444", "succeeded", None),  # any other Luhn-valid number
        ("4000 0000 0000 0119", "succeeded", None),  # processor error first, the worker retries
    ],
)
def test_each_test_card_ends_as_documented(
    client: FlaskClient, make: Factories, clean: Runtime, card: str, status: str, failure_code: str | None
) -> None:
    tenant = make.tenants()
    cs = create_session(client, tenant)
    payment_id = confirm(clean, tenant, cs["id"], card_number=card)
    payment = work_until_settled(clean, tenant, payment_id)
    assert (str(payment.status), payment.failure_code) == (status, failure_code)
    api = client.get(f"/api/v1/payments/{payment_id}", headers=auth(tenant.keys.secret_key)).json
    assert api["status"] == status and api["card"]["last4"] == card[-4:]
    session = client.get(f"/api/v1/checkout/sessions/{cs['id']}", headers=auth(tenant.keys.secret_key)).json
    assert session["status"] == ("complete" if status == "succeeded" else "open")
    assert session["payment"] == (payment_id if status == "succeeded" else None)


def test_the_retry_card_fails_once_then_succeeds_with_one_charge(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    cs = create_session(client, tenant)
    payment_id = confirm(clean, tenant, cs["id"], card_number="4000000000000119")
    work(clean)
    first = load(clean, tenant, payment_id)
    assert (
        str(first.status) == "pending" and first.processor_attempts == 1 and first.next_attempt_at is not None
    )
    payment = work_until_settled(clean, tenant, payment_id)
    assert str(payment.status) == "succeeded"
    assert clean.processor(False).charges(payment_id) == 1  # type: ignore[attr-defined]


def test_3ds_challenge_completed_succeeds_and_failed_fails(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    for result, status, code in (
        ("passed", "succeeded", None),
        ("failed", "failed", "authentication_failed"),
    ):
        cs = create_session(client, tenant)
        payment_id = confirm(clean, tenant, cs["id"], card_number="4000 0027 6000 3184")
        work(clean)
        waiting = load(clean, tenant, payment_id)
        assert str(waiting.status) == "requires_action" and str(waiting.action_type) == "three_ds"
        answer(clean, tenant, payment_id, result)
        payment = work_until_settled(clean, tenant, payment_id)
        assert (str(payment.status), payment.failure_code) == (status, code)


@pytest.mark.parametrize(
    ("method", "result", "status"),
    [
        ("wallet", "approved", "succeeded"),
        ("wallet", "declined", "failed"),
        ("bank", "approved", "succeeded"),
    ],
)
def test_wallet_and_bank_go_through_approval(
    client: FlaskClient, make: Factories, clean: Runtime, method: str, result: str, status: str
) -> None:
    tenant = make.tenants()
    cs = create_session(client, tenant)
    payment_id = confirm(clean, tenant, cs["id"], method=method)
    work(clean)
    assert str(load(clean, tenant, payment_id).status) == "requires_action"
    answer(clean, tenant, payment_id, result)
    assert str(work_until_settled(clean, tenant, payment_id).status) == status


def test_a_luhn_invalid_number_is_a_form_error_and_creates_nothing(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    cs = create_session(client, tenant)
    with pytest.raises(InvalidInput) as info:
        confirm(clean, tenant, cs["id"], card_number="4242 4242 4242 4241")
    assert info.value.param == "card_number" and "4241" not in info.value.message
    listed = client.get("/api/v1/payments", headers=auth(tenant.keys.secret_key)).json
    assert listed["data"] == []


def test_a_declined_attempt_can_be_retried_and_one_session_pays_once(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    cs = create_session(client, tenant)
    declined = confirm(clean, tenant, cs["id"], card_number="4000000000000002")
    assert str(work_until_settled(clean, tenant, declined).status) == "failed"
    paid = confirm(clean, tenant, cs["id"])
    assert str(work_until_settled(clean, tenant, paid).status) == "succeeded"
    from core.payments.service import SessionNotOpen

    with pytest.raises(SessionNotOpen):
        confirm(clean, tenant, cs["id"])


def test_submitting_twice_returns_the_payment_in_flight(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    cs = create_session(client, tenant)
    first, second = confirm(clean, tenant, cs["id"]), confirm(clean, tenant, cs["id"])
    assert first == second


def test_a_success_writes_history_events_ledger_and_balance(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    cs = create_session(client, tenant, amount=10_000)
    payment_id = confirm(clean, tenant, cs["id"])
    work_until_settled(clean, tenant, payment_id)
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        history = uow.session.scalars(
            select(PaymentStatusChange.status)
            .where(PaymentStatusChange.payment_id == payment_id)
            .order_by(PaymentStatusChange.id)
        ).all()
        event_rows = uow.session.scalars(
            select(Event).where(Event.object_id == payment_id).order_by(Event.sequence)
        ).all()
        fee = ledger.fee_for(uow.session, tenant_id=tenant.id, amount=10_000, currency="EUR")
        entries = ledger.journal_entries(uow.session, tenant_id=tenant.id, reference_id=payment_id)
    assert [str(s) for s in history] == ["initiated", "pending", "succeeded"]
    assert [e.type for e in event_rows] == ["payment.created", "payment.succeeded"]
    assert [e.sequence for e in event_rows] == [1, 2]
    assert sum(e.amount for e in entries) == 0 and entries
    balance = client.get("/api/v1/balance", headers=auth(tenant.keys.secret_key)).json
    assert balance["pending"] == [{"amount": 10_000 - fee, "currency": "EUR"}]


def test_the_cvc_is_gone_after_authorization(client: FlaskClient, make: Factories, clean: Runtime) -> None:
    tenant = make.tenants()
    cs = create_session(client, tenant)
    payment_id = confirm(clean, tenant, cs["id"], cvc="987")
    token = load(clean, tenant, payment_id).card_token_id
    assert token is not None
    assert vault.peek_cvc(clean.redis, tenant_id=tenant.id, token_id=token, kms=clean.kms) == "987"
    work_until_settled(clean, tenant, payment_id)
    assert vault.peek_cvc(clean.redis, tenant_id=tenant.id, token_id=token, kms=clean.kms) is None


def test_manual_capture_and_cancel(client: FlaskClient, make: Factories, clean: Runtime) -> None:
    tenant = make.tenants()
    key = auth(tenant.keys.secret_key)
    for action in ("capture", "cancel"):
        cs = create_session(client, tenant, capture="manual")
        payment_id = confirm(clean, tenant, cs["id"])
        assert str(work_until_settled(clean, tenant, payment_id).status) == "authorized"
        response = client.post(f"/api/v1/payments/{payment_id}/{action}", json={}, headers=key)
        assert response.status_code == 200, response.json
        assert response.json["status"] == ("succeeded" if action == "capture" else "canceled")
        again = client.post(f"/api/v1/payments/{payment_id}/{action}", json={}, headers=key)
        assert again.status_code == 400 and again.json["error"]["code"] == "payment_invalid_state"


def test_refunds_partial_then_full_and_never_beyond(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    key = auth(tenant.keys.secret_key)
    cs = create_session(client, tenant, amount=5000)
    payment_id = confirm(clean, tenant, cs["id"])
    work_until_settled(clean, tenant, payment_id)
    first = client.post("/api/v1/refunds", json={"payment": payment_id, "amount": 2000}, headers=key)
    assert first.status_code == 201 and first.json["status"] == "succeeded"
    too_much = client.post("/api/v1/refunds", json={"payment": payment_id, "amount": 3001}, headers=key)
    assert too_much.status_code == 400 and too_much.json["error"]["code"] == "refund_exceeds_payment"
    rest = client.post("/api/v1/refunds", json={"payment": payment_id}, headers=key)
    assert rest.status_code == 201 and rest.json["amount"] == 3000
    payment = client.get(f"/api/v1/payments/{payment_id}", headers=key).json
    assert payment["status"] == "refunded" and payment["amount_refunded"] == 5000
    listed = client.get(f"/api/v1/refunds?payment={payment_id}", headers=key).json
    assert [r["amount"] for r in listed["data"]] == [3000, 2000]


def test_concurrent_confirms_of_one_session_make_one_payment(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    import threading

    tenant = make.tenants()
    cs = create_session(client, tenant)
    barrier = threading.Barrier(8)
    made: list[str] = []
    errors: list[BaseException] = []

    def shopper() -> None:
        barrier.wait()
        try:
            made.append(confirm(clean, tenant, cs["id"]))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=shopper) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and len(made) == 8
    assert len(set(made)) == 1  # every submission got the one payment in flight
    listed = client.get(
        f"/api/v1/payments?checkout_session={cs['id']}", headers=auth(tenant.keys.secret_key)
    ).json
    assert len(listed["data"]) == 1
