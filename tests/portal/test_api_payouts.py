"""The payout and dispute API: balance, balance transactions by payout, manual payout, evidence upload."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient

from core.clock import FrozenClock
from core.context import Actor
from core.disputes import service as disputes
from core.jobs.runtime import Runtime
from core.payouts import bank_accounts
from tests.fixtures import Factories
from tests.payments_helpers import auth


def test_manual_payout_and_its_transactions_over_the_api(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    make.payments(tenant=tenant, amount=10_000, card_number="4000 0000 0000 0077")
    key = auth(tenant.keys.secret_key)
    assert (
        client.post("/api/v1/payouts", json={"currency": "EUR"}, headers=key).status_code == 409
    )  # no account
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        bank_accounts.add_bank_account(
            uow.session,
            clean.context(uow, Actor.system("test")),
            tenant_id=tenant.id,
            currency="EUR",
            account_holder="Shop",
            details=bank_accounts.validate(country="DE", iban="DE89370400440532013000"),
            requested_by=None,
        )
    balance = client.get("/api/v1/balance", headers=key).get_json()
    assert balance["available"] == [{"amount": 9_835, "currency": "EUR"}]
    made = client.post("/api/v1/payouts", json={"currency": "EUR", "amount": 5_000}, headers=key)
    assert made.status_code == 201 and made.get_json()["status"] == "created"
    po = made.get_json()["id"]
    lines = client.get(f"/api/v1/balance_transactions?payout={po}", headers=key).get_json()["data"]
    assert sum(line["net"] for line in lines if line["type"] != "payout") == 5_000
    assert client.get("/api/v1/bank_accounts", headers=key).get_json()["data"][0]["masked"] == "•••• 3000"
    assert (
        client.post("/api/v1/payouts", json={"currency": "EUR", "amount": 10_000}, headers=key).status_code
        == 409
    )


def test_evidence_over_the_api_is_type_checked(client: FlaskClient, make: Factories, clean: Runtime) -> None:
    tenant = make.tenants()
    make.payments(tenant=tenant, amount=3_000, card_number="4000 0000 0000 0259")
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        ctx = replace(
            clean.context(uow, Actor.system("test")),
            clock=FrozenClock(datetime.now(UTC) + timedelta(minutes=1)),
        )
        [dispute] = disputes.open_sandbox_disputes(uow.session, ctx, tenant_id=tenant.id)
    key = auth(tenant.keys.secret_key)
    url = f"/api/v1/disputes/{dispute.id}/evidence"
    exe = {"files": [{"filename": "x.exe", "content_base64": base64.b64encode(b"MZ\x90").decode()}]}
    bad = client.post(url, json=exe, headers=key)
    assert bad.status_code == 400 and "not a PDF" in bad.get_json()["error"]["message"]
    assert (
        client.post(
            url, json={"files": [{"filename": "a.pdf", "content_base64": "%%%"}]}, headers=key
        ).status_code
        == 400
    )
    ok = client.post(
        url,
        json={
            "evidence": {"uncategorized_text": "signed for"},
            "files": [{"filename": "a.pdf", "content_base64": base64.b64encode(b"%PDF-1.4 x").decode()}],
        },
        headers=key,
    )
    assert ok.status_code == 200 and ok.get_json()["status"] == "under_review"
    assert (
        client.post(url, json={"evidence": {"uncategorized_text": "again"}}, headers=key).status_code == 409
    )
    listed = client.get("/api/v1/disputes?status=under_review", headers=key).get_json()["data"]
    assert [d["id"] for d in listed] == [dispute.id]
