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
    assert "card_declined" in page and "ann@example.com" in page
    assert page.count('<svg class="chart"') == 6 and "<script" not in page.split("</header>", 1)[1]
    assert page.count("<caption") >= 6
    assert "Payouts:" in page and 'id="payouts-pending"' in page


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
