"""Ten truly concurrent partial refunds whose sum exceeds the payment: the total refunded never exceeds it."""

from __future__ import annotations

from collections import Counter

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from core.events.models import Event
from core.jobs.runtime import Runtime
from core.ledger import service as ledger
from core.ledger.models import Account, Journal
from tests.fixtures import Factories
from tests.payments_helpers import auth
from tests.portal.live import all_at_once, send, serve

pytestmark = pytest.mark.postgres

AMOUNT, PART, THREADS = 10_000, 1_500, 10


def test_concurrent_partial_refunds_never_exceed_the_payment(
    app: Flask, client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    key = tenant.keys.secret_key
    paid = make.payments(tenant=tenant, amount=AMOUNT)
    assert str(paid.status) == "succeeded"
    payment_id = paid.id

    with serve(app) as address:
        answers = all_at_once(
            THREADS,
            lambda i: send(
                address,
                "POST",
                "/api/v1/refunds",
                key=key,
                body={"payment": payment_id, "amount": PART},
                headers={"Idempotency-Key": f"refund-{i}"},
            ),
        )

    fits = AMOUNT // PART  # 6 refunds of 1500 fit in 10000; the 7th would make 10500
    outcomes = Counter(
        (a.status, a.body["status"] if a.status == 201 else a.body["error"]["code"]) for a in answers
    )
    assert outcomes == {(201, "succeeded"): fits, (400, "refund_exceeds_payment"): THREADS - fits}, outcomes
    for answer in answers:
        if answer.status == 400:
            assert answer.body["error"]["param"] == "amount"
    made = {a.body["id"] for a in answers if a.status == 201}

    key_header = auth(key)
    listed = client.get(f"/api/v1/refunds?payment={payment_id}&limit=100", headers=key_header).json["data"]
    assert {r["id"] for r in listed} == made
    assert all(r["status"] == "succeeded" and r["amount"] == PART for r in listed)
    assert sum(r["amount"] for r in listed) == fits * PART == 9_000
    payment = client.get(f"/api/v1/payments/{payment_id}", headers=key_header).json
    assert (payment["amount_refunded"], payment["status"]) == (9_000, "partially_refunded")

    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        journals = uow.session.scalars(select(Journal).where(Journal.kind == ledger.KIND_REFUND)).all()
        assert sorted(j.reference_id for j in journals) == sorted(made)  # exactly one journal per refund
        refunded_through_processor = 0
        for refund_id in made:
            entries = ledger.journal_entries(uow.session, tenant_id=tenant.id, reference_id=refund_id)
            assert entries and sum(e.amount for e in entries) == 0
            refunded_through_processor -= sum(
                e.amount for e in entries if e.account is Account.PROCESSOR_RECEIVABLE
            )
        assert refunded_through_processor == 9_000
        # The payment's events stay in order while refunds race: 1, 2, 3, ... without a gap or a repeat.
        sequences = uow.session.scalars(
            select(Event.sequence).where(Event.object_id == payment_id).order_by(Event.sequence)
        ).all()
        assert list(sequences) == list(range(1, len(sequences) + 1))
        assert len(sequences) == 2 + fits  # created, succeeded, and one payment.refunded per refund
