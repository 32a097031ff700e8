"""The portal's reports page and its CSV exports: exact figures, HTMX fragment, bad filters, access, and
exports that add up (the journal to zero per currency)."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from decimal import Decimal

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from core.audit.models import AuditEvent
from core.context import Actor
from core.jobs.runtime import Runtime
from core.reports import service
from tests.factories import MadeTenant
from tests.fixtures import Factories
from tests.portal.test_sign_in import sign_in


@pytest.fixture
def shop(client: FlaskClient, clean: Runtime, make: Factories) -> MadeTenant:
    tenant = make.tenants()
    make.payments(tenant=tenant, amount=1000, customer_email="ann@example.com")
    paid = make.payments(tenant=tenant, amount=2001, customer_email="ann@example.com")
    make.refunds(tenant=tenant, payment=paid, amount=500)
    make.payments(tenant=tenant, failed=True, amount=700)
    for _ in service.rebuild(clean, tenant_id=tenant.id, actor=Actor.system("test")):
        pass
    sign_in(client, tenant)
    return tenant


def test_the_reports_page_shows_exact_figures_charts_and_tables(
    client: FlaskClient, shop: MadeTenant
) -> None:
    response = client.get("/portal/reports")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "€30.01" in page  # volume 10.00 + 20.01
    assert "€15.01" in page  # average ticket 15.005 rounded half up
    assert "66.7 %" in page  # 2 approved of 3 decided
    assert "card_declined" in page
    assert page.count('<svg class="chart"') == 5 and "<script" not in page.split("</header>", 1)[1]
    assert page.count("<caption") >= 4  # the data tables beside the charts
    assert 'id="report-payouts"' in page and "Paid out in this period" in page
    # The shoppers come in a request of their own (htmx on load), with a link for a browser without JS.
    assert 'hx-get="/portal/reports/shoppers?' in page and "?shoppers=1" in page
    assert "ann@example.com" not in page


def test_the_shopper_figures_come_alone_or_inline_without_javascript(
    client: FlaskClient, shop: MadeTenant
) -> None:
    alone = client.get("/portal/reports/shoppers?currency=EUR", headers={"HX-Request": "true"})
    assert alone.status_code == 200
    section = alone.get_data(as_text=True)
    assert section.lstrip().startswith('<section aria-labelledby="shoppers-h"') and "<html" not in section
    # ann paid twice (10.00 + 20.01, 5.00 of it refunded later: volume is what was captured).
    assert "ann@example.com" in section and "€30.01" in section
    assert '<th scope="row">Repeat rate (paid twice or more)</th><td>' in section
    assert section.count('<svg class="chart"') == 1
    inline = client.get("/portal/reports?shoppers=1").get_data(as_text=True)
    assert "ann@example.com" in inline and inline.count('<svg class="chart"') == 6
    assert 'hx-get="/portal/reports/shoppers' not in inline


def test_the_shopper_figures_refuse_bad_filters_with_the_reason(
    client: FlaskClient, shop: MadeTenant
) -> None:
    response = client.get("/portal/reports/shoppers?from=2026-02-31", headers={"HX-Request": "true"})
    assert response.status_code == 400
    assert "from must be a date" in response.get_data(as_text=True)


def test_a_filter_change_answers_only_the_report_fragment(client: FlaskClient, shop: MadeTenant) -> None:
    response = client.get("/portal/reports?method=wallet&compare=1", headers={"HX-Request": "true"})
    fragment = response.get_data(as_text=True)
    assert (
        response.status_code == 200
        and "<html" not in fragment
        and fragment.lstrip().startswith('<div id="report"')
    )
    assert "€0.00" in fragment and "previous:" in fragment


def test_bad_filters_are_a_400_with_the_reason_on_the_page(client: FlaskClient, shop: MadeTenant) -> None:
    response = client.get("/portal/reports?from=2026-02-31")
    assert response.status_code == 400
    assert "from must be a date" in response.get_data(as_text=True)
    assert client.get("/portal/reports/export/payments.csv?currency=EURO").status_code == 400
    assert client.get("/portal/reports/export/journal.csv?account_sales=80%2000").status_code == 400
    assert client.get("/portal/reports/export/secrets.csv").status_code == 404


def test_a_role_without_reports_read_is_refused(client: FlaskClient, make: Factories, clean: Runtime) -> None:
    tenant = make.tenants(role="support")
    sign_in(client, tenant)
    assert client.get("/portal/reports").status_code == 403
    assert client.get("/portal/reports/shoppers").status_code == 403
    assert client.get("/portal/reports/export/payments.csv").status_code == 403
    assert "/portal/reports" not in client.get("/portal/payments").get_data(as_text=True)


def _rows(client: FlaskClient, path: str) -> list[dict[str, str]]:
    response = client.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_exports_add_up_to_the_cent_and_the_journal_to_zero(
    client: FlaskClient, clean: Runtime, shop: MadeTenant
) -> None:
    payments = _rows(client, "/portal/reports/export/payments.csv")
    assert len(payments) == 3
    assert sum(int(p["amount_captured_minor"]) for p in payments) == 3001
    assert sum(Decimal(p["amount_captured"]) for p in payments) == Decimal("30.01")
    fees = sum(int(p["fee_minor"]) for p in payments)
    refunds = _rows(client, "/portal/reports/export/refunds.csv")
    assert [(r["amount"], r["currency"]) for r in refunds] == [("5.00", "EUR")]

    journal = _rows(client, "/portal/reports/export/journal.csv?account_sales=4400")
    per_currency: dict[str, int] = defaultdict(int)
    for line in journal:
        per_currency[line["currency"]] += int(line["amount_minor"])
    assert per_currency == {"EUR": 0}
    by_code: dict[str, int] = defaultdict(int)
    for line in journal:
        by_code[line["account_code"]] += int(line["amount_minor"])
    assert by_code == {"4400": -3001, "4970": fees, "8720": 500, "1360": 3001 - fees - 500}

    xero = _rows(client, "/portal/reports/export/xero.csv")
    assert sum(Decimal(line["*Amount"]) for line in xero) == 0
    assert {line["*AccountCode"]: line["*Amount"] for line in xero}["8400"] == "-30.01"
    with clean.db.unit_of_work(tenant_id=shop.id) as uow:
        exported = uow.session.scalars(select(AuditEvent).where(AuditEvent.action == "report.exported")).all()
    assert len(exported) == 4


def test_the_payout_figures_are_the_periods_payouts(
    client: FlaskClient, shop: MadeTenant, clean: Runtime
) -> None:
    from datetime import timedelta

    from core.ids import new_id
    from core.payouts import bank_accounts
    from core.payouts.models import Payout, PayoutStatus

    now = clean.clock.now()
    with clean.db.unit_of_work(tenant_id=shop.id) as uow:
        account = bank_accounts.add_bank_account(
            uow.session,
            clean.context(uow, Actor.system("test")),
            tenant_id=shop.id,
            currency="EUR",
            account_holder="Shop GmbH",
            details=bank_accounts.validate(country="DE", iban="DE89370400440532013000"),
            requested_by=None,
        )
        for status, amount, when in (
            (PayoutStatus.PAID, 12_000, now),
            (PayoutStatus.PAID, 3_050, now - timedelta(days=1)),
            (PayoutStatus.PAID, 99_999, now - timedelta(days=90)),  # before the period
            (PayoutStatus.IN_TRANSIT, 4_200, now),
            (PayoutStatus.FAILED, 700, now),
        ):
            uow.session.add(
                Payout(
                    tenant_id=shop.id,
                    id=new_id("po"),
                    amount=amount,
                    currency="EUR",
                    status=status,
                    method="manual",
                    run_key=f"manual:{amount}",
                    bank_account_id=account.id,
                    arrival_date=when.date(),
                    created_at=when,
                    in_transit_at=when,
                    paid_at=when if status is PayoutStatus.PAID else None,
                    failed_at=when if status is PayoutStatus.FAILED else None,
                    failure_code="account_closed" if status is PayoutStatus.FAILED else None,
                    livemode=False,
                )
            )
    page = client.get("/portal/reports").get_data(as_text=True)
    figures = page.split('id="report-payouts"', 1)[1].split("</dl>", 1)[0]
    assert "€150.50" in figures and "2 payouts" in figures  # 120.00 + 30.50 paid in the last 30 days
    assert "€42.00" in figures and "1 payout<" in figures
    assert "<dt>Failed payouts</dt><dd>1</dd>" in figures
    assert "€999.99" not in figures
