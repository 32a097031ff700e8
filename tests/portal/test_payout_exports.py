"""Payouts and balance transactions in the reports exports: streamed CSV, every cent traceable (a payout's
amount is the sum of its transactions' net), payouts:read needed besides reports:read."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from flask import Flask
from flask.testing import FlaskClient

from core.jobs.runtime import Runtime
from tenants.models import Role
from tenants.permissions import Permission
from tests.fixtures import Factories
from tests.payments_helpers import auth
from tests.portal.team_helpers import add_member, custom_role, give_role, sign_in_as
from tests.portal.test_sign_in import sign_in


def _rows(client: FlaskClient, path: str) -> list[dict[str, str]]:
    response = client.get(path, buffered=False)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.is_streamed and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_payouts_and_balance_transactions_export_trace_every_cent(
    app: Flask, client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    for amount in (10_000, 2_550):
        make.payments(tenant=tenant, amount=amount, card_number="4000 0000 0000 0077")  # available at once
    key = auth(tenant.keys.secret_key)
    body = {"currency": "EUR", "country": "DE", "account_holder": "Shop", "iban": "DE89370400440532013000"}
    assert client.post("/api/v1/bank_accounts", json=body, headers=key).status_code == 201
    made = client.post("/api/v1/payouts", json={"currency": "EUR", "amount": 7_000}, headers=key)
    assert made.status_code == 201
    po = made.get_json()["id"]

    sign_in(client, tenant)
    page = client.get("/portal/reports").get_data(as_text=True)
    assert "export/payouts.csv" in page and "export/balance_transactions.csv" in page
    [payout] = _rows(client, "/portal/reports/export/payouts.csv")
    assert (payout["id"], payout["amount"], payout["amount_minor"], payout["status"]) == (
        po,
        "70.00",
        "7000",
        "created",
    )
    assert payout["method"] == "manual" and payout["bank_account"].startswith("ba_")

    lines = _rows(client, "/portal/reports/export/balance_transactions.csv")
    assert {line["type"] for line in lines} >= {"charge", "payout"}
    charges = [line for line in lines if line["type"] == "charge"]
    assert sorted(int(c["amount_minor"]) for c in charges) == [2_550, 10_000]
    for line in lines:
        assert int(line["net_minor"]) == int(line["amount_minor"]) - int(line["fee_minor"])
        assert Decimal(line["net"]) * 100 == int(line["net_minor"])
    paid_out = [line for line in lines if line["payout"] == po and line["type"] != "payout"]
    assert sum(int(line["net_minor"]) for line in paid_out) == 7_000
    assert _rows(client, "/portal/reports/export/balance_transactions.csv?currency=USD") == []

    analyst = app.test_client()
    sign_in_as(analyst, *add_member(clean, tenant, Role.ANALYST))  # reports:read and payouts:read
    assert len(_rows(analyst, "/portal/reports/export/payouts.csv")) == 1
    email, secret = add_member(clean, tenant, Role.VIEWER, email="books@example.com")
    books_role = custom_role(clean, tenant, "Books", {Permission.PAYMENTS_READ, Permission.REPORTS_READ})
    give_role(clean, tenant, email, books_role)
    books = app.test_client()
    sign_in_as(books, email, secret)
    assert "export/payouts.csv" not in books.get("/portal/reports").get_data(as_text=True)
    assert books.get("/portal/reports/export/payouts.csv").status_code == 403
    assert books.get("/portal/reports/export/balance_transactions.csv").status_code == 403
    assert books.get("/portal/reports/export/payments.csv").status_code == 200
