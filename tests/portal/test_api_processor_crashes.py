"""A crash between the processor's answer and Kassa's commit, then a retry with another amount: Kassa books
what the processor moved, refuses the new amount, and its payment and ledger agree with the processor."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask.testing import FlaskClient

from core.jobs.runtime import Runtime
from core.ledger import service as ledger
from core.ledger.models import Account
from core.processors import Processor, ProcessorResult, SandboxProcessor
from tests.factories import MadeTenant
from tests.fixtures import Factories
from tests.payments_helpers import auth, load


class Crash(BaseException):
    """The web process dies (a BaseException, like SystemExit: no handler answers it)."""


class DiesAfterTheAnswer:
    """The real sandbox acquirer; the caller dies as soon as the acquirer has answered a capture or refund,
    so the acquirer has moved the money and Kassa's transaction never commits."""

    def __init__(self, acquirer: Processor) -> None:
        self.acquirer = acquirer
        self.name = acquirer.name

    def capture(self, **request: Any) -> ProcessorResult:
        self.acquirer.capture(**request)
        raise Crash("killed after the processor captured")

    def refund(self, **request: Any) -> ProcessorResult:
        self.acquirer.refund(**request)
        raise Crash("killed after the processor refunded")


@contextmanager
def crash_after_the_processor_answers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    real = Runtime.processor
    with monkeypatch.context() as patch:
        patch.setattr(Runtime, "processor", lambda rt, livemode: DiesAfterTheAnswer(real(rt, livemode)))
        yield


def sandbox_charge(rt: Runtime, tenant: MadeTenant, payment_id: str) -> dict[str, int]:
    """The acquirer's own record of the payment's charge."""
    acquirer = rt.processor(False)
    assert isinstance(acquirer, SandboxProcessor)
    reference = load(rt, tenant, payment_id).processor_reference
    assert reference
    charge = acquirer.charge(reference)
    return {"captured": int(charge["captured"]), "refunded": int(charge["refunded"])}


def receivable(rt: Runtime, tenant: MadeTenant) -> int:
    """What Kassa's ledger says the processor holds for the tenant: captured minus refunded."""
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        return ledger.account_balance(
            uow.session, tenant_id=tenant.id, account=Account.PROCESSOR_RECEIVABLE, currency="EUR"
        )


def test_a_capture_retried_with_another_amount_after_a_crash_books_what_the_processor_captured(
    client: FlaskClient, make: Factories, clean: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = make.tenants()
    key = auth(tenant.keys.secret_key)
    authorized = make.payments(tenant=tenant, amount=1000, authorized=True)  # capture="manual"
    assert str(authorized.status) == "authorized"
    payment_id = authorized.id

    with crash_after_the_processor_answers(monkeypatch), pytest.raises(Crash):
        client.post(f"/api/v1/payments/{payment_id}/capture", json={"amount": 500}, headers=key)
    assert sandbox_charge(clean, tenant, payment_id)["captured"] == 500  # the acquirer moved 500 ...
    before = client.get(f"/api/v1/payments/{payment_id}", headers=key).json
    assert (before["status"], before["amount_captured"]) == ("authorized", 0)  # ... Kassa recorded nothing
    assert receivable(clean, tenant) == 0

    retry = client.post(f"/api/v1/payments/{payment_id}/capture", json={"amount": 1000}, headers=key)

    assert retry.status_code == 409, retry.json
    error = retry.json["error"]
    assert (error["code"], error["param"]) == ("processor_amount_mismatch", "amount")
    assert "captured 5.00 EUR, not the 10.00 EUR" in error["message"]
    payment = client.get(f"/api/v1/payments/{payment_id}", headers=key).json
    processor = sandbox_charge(clean, tenant, payment_id)
    assert processor == {"captured": 500, "refunded": 0}
    assert (payment["status"], payment["amount_captured"]) == ("succeeded", processor["captured"])
    assert receivable(clean, tenant) == processor["captured"]
    fee = ledger.compute_fee(500, ledger.FeeTerms(ledger.DEFAULT_PERCENT_BPS, ledger.DEFAULT_FIXED_AMOUNT))
    balance = client.get("/api/v1/balance", headers=key).json
    assert balance["pending"] == [{"amount": 500 - fee, "currency": "EUR"}]
    # Nothing more can be captured, and the acquirer was not asked to capture again.
    again = client.post(f"/api/v1/payments/{payment_id}/capture", json={"amount": 1000}, headers=key)
    assert again.status_code == 400 and again.json["error"]["code"] == "payment_invalid_state"
    acquirer = clean.processor(False)
    assert isinstance(acquirer, SandboxProcessor)
    assert acquirer.operations("capture", f"{payment_id}:capture") == 1


def test_a_refund_retried_with_another_amount_after_a_crash_books_what_the_processor_refunded(
    client: FlaskClient, make: Factories, clean: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = make.tenants()
    key = auth(tenant.keys.secret_key)
    paid = make.payments(tenant=tenant, amount=1000)
    assert str(paid.status) == "succeeded"
    payment_id = paid.id

    with crash_after_the_processor_answers(monkeypatch), pytest.raises(Crash):
        client.post("/api/v1/refunds", json={"payment": payment_id, "amount": 100}, headers=key)
    assert sandbox_charge(clean, tenant, payment_id) == {"captured": 1000, "refunded": 100}
    assert client.get(f"/api/v1/refunds?payment={payment_id}", headers=key).json["data"] == []

    # Retried with another amount, and with an Idempotency-Key: the error answer is kept with its effects.
    headers = {**key, "Idempotency-Key": "refund-retry-1"}
    body = {"payment": payment_id, "amount": 900}
    retry = client.post("/api/v1/refunds", json=body, headers=headers)

    assert retry.status_code == 409, retry.json
    error = retry.json["error"]
    assert error["code"] == "processor_amount_mismatch"
    assert "refunded 1.00 EUR, not the 9.00 EUR" in error["message"]
    refunds = client.get(f"/api/v1/refunds?payment={payment_id}", headers=key).json["data"]
    assert [(r["amount"], r["status"]) for r in refunds] == [(100, "succeeded")]
    assert refunds[0]["id"] in error["message"]
    payment = client.get(f"/api/v1/payments/{payment_id}", headers=key).json
    processor = sandbox_charge(clean, tenant, payment_id)
    assert processor == {"captured": 1000, "refunded": 100}
    assert (payment["status"], payment["amount_captured"], payment["amount_refunded"]) == (
        "partially_refunded",
        processor["captured"],
        processor["refunded"],
    )
    assert receivable(clean, tenant) == processor["captured"] - processor["refunded"]

    # The same request again replays the same answer and books nothing more.
    replay = client.post("/api/v1/refunds", json=body, headers=headers)
    assert (replay.status_code, replay.json) == (409, retry.json)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert len(client.get(f"/api/v1/refunds?payment={payment_id}", headers=key).json["data"]) == 1

    # A new refund request goes to the processor under a new key, and both sides still agree.
    rest = client.post("/api/v1/refunds", json={"payment": payment_id, "amount": 900}, headers=key)
    assert rest.status_code == 201 and rest.json["amount"] == 900
    payment = client.get(f"/api/v1/payments/{payment_id}", headers=key).json
    assert sandbox_charge(clean, tenant, payment_id) == {"captured": 1000, "refunded": 1000}
    assert (payment["status"], payment["amount_refunded"]) == ("refunded", 1000)
    assert receivable(clean, tenant) == 0


def test_a_retry_with_the_same_amount_after_a_crash_is_booked_once(
    client: FlaskClient, make: Factories, clean: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = make.tenants()
    key = auth(tenant.keys.secret_key)
    payment_id = make.payments(tenant=tenant, amount=1000, authorized=True).id
    with crash_after_the_processor_answers(monkeypatch), pytest.raises(Crash):
        client.post(f"/api/v1/payments/{payment_id}/capture", json={"amount": 700}, headers=key)

    retry = client.post(f"/api/v1/payments/{payment_id}/capture", json={"amount": 700}, headers=key)

    assert retry.status_code == 200, retry.json
    assert (retry.json["status"], retry.json["amount_captured"]) == ("succeeded", 700)
    assert sandbox_charge(clean, tenant, payment_id)["captured"] == 700 == receivable(clean, tenant)
