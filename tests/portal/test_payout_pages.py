"""The portal's money screens: balance, payouts with their transactions and CSV, settings (bank account
masked, never echoed), reconciliation results, disputes; who may do what."""

from __future__ import annotations

from datetime import UTC, datetime

from flask.testing import FlaskClient
from sqlalchemy import select

from core.context import Actor
from core.jobs.runtime import Runtime
from core.ledger import service as ledger
from core.payouts import reconciliation
from core.payouts.models import BankAccount
from tests.fixtures import Factories
from tests.portal.test_sign_in import csrf_token, sign_in


def post_form(client: FlaskClient, url: str, data: dict[str, str], *, page_url: str):  # type: ignore[no-untyped-def]
    token = csrf_token(client.get(page_url).get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token})


def test_a_merchant_adds_a_bank_account_and_pays_out_from_the_portal(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    make.payments(tenant=tenant, amount=10_000, card_number="4000 0000 0000 0077")  # available at once
    sign_in(client, tenant)
    balance = client.get("/portal/balance").get_data(as_text=True)
    assert "€98.35" in balance and "<svg" in balance

    page = client.get("/portal/payouts/settings").get_data(as_text=True)
    assert "No bank account yet" in page
    bad = post_form(
        client,
        "/portal/payouts/settings/bank_account",
        {"currency": "EUR", "country": "DE", "account_holder": "Shop GmbH", "iban": "DE89370400440532013001"},
        page_url="/portal/payouts/settings",
    )
    assert bad.status_code == 303
    assert "not a valid IBAN" in client.get("/portal/payouts/settings").get_data(as_text=True)
    ok = post_form(
        client,
        "/portal/payouts/settings/bank_account",
        {
            "currency": "EUR",
            "country": "DE",
            "account_holder": "Shop GmbH",
            "iban": "DE89 3704 0044 0532 0130 00",
        },
        page_url="/portal/payouts/settings",
    )
    assert ok.status_code == 303
    settings_page = client.get("/portal/payouts/settings").get_data(as_text=True)
    assert "•••• 3000" in settings_page and "0532013000" not in settings_page

    made = post_form(
        client, "/portal/payouts/new", {"currency": "EUR", "amount": "50"}, page_url="/portal/balance"
    )
    assert made.status_code == 303
    listing = client.get("/portal/payouts").get_data(as_text=True)
    assert "€50.00" in listing
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        from core.payouts.models import Payout

        payout = uow.session.scalars(select(Payout)).one()
        assert uow.session.scalars(select(BankAccount)).one().last4 == "3000"
    detail = client.get(f"/portal/payouts/{payout.id}").get_data(as_text=True)
    assert "The transactions add up to the payout amount." in detail
    csv_text = client.get(f"/portal/payouts/{payout.id}/transactions.csv").get_data(as_text=True)
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("id,type,source,amount,fee,net")
    assert sum(int(line.split(",")[5]) for line in lines[1:]) == 5_000
    assert client.get("/portal/payouts/po_01m8rhpzra27tbpxvhe1cmbg9k").status_code == 404


def test_reconciliation_results_show_the_difference(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    payment = make.payments(tenant=tenant, amount=2_000)
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        ctx = clean.context(uow, Actor.system("test"))
        day = datetime.now(UTC).date()
        text = reconciliation.sandbox_settlement_file(uow.session, tenant_id=tenant.id, day=day)
        reconciliation.reconcile(
            uow.session,
            ctx,
            tenant_id=tenant.id,
            day=day,
            text=text.replace(f"{payment.id},EUR,2000", f"{payment.id},EUR,1999"),
        )
    sign_in(client, tenant)
    page = client.get("/portal/reconciliation").get_data(as_text=True)
    assert "1 difference" in page and "amount_mismatch" in page and payment.id in page


def test_the_balance_page_shows_the_settlement_terms_and_needs_sign_in(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        ledger.set_settlement_terms(uow.session, tenant_id=tenant.id, clock=clean.clock, delay_days=3)
    assert client.get("/portal/balance").status_code == 302
    sign_in(client, tenant)
    page = client.get("/portal/balance").get_data(as_text=True)
    assert "T+3" in page and "No money has moved yet." in page
