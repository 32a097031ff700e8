"""GET /api/v1/reports/summary: the rollups' figures as JSON, per currency and period; bad input is a 400."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask.testing import FlaskClient

from core.context import Actor
from core.jobs.runtime import Runtime
from core.reports import service
from tenants import api_keys
from tenants.models import KeyMode
from tenants.permissions import Permission
from tests.fixtures import Factories
from tests.payments_helpers import auth


@pytest.fixture
def shop(client: FlaskClient, clean: Runtime, make: Factories):  # type: ignore[no-untyped-def]
    tenant = make.tenants()
    make.payments(tenant=tenant, amount=1000)
    paid = make.payments(tenant=tenant, amount=2001)
    make.refunds(tenant=tenant, payment=paid, amount=500)
    make.payments(tenant=tenant, failed=True, amount=700)
    for _ in service.rebuild(clean, tenant_id=tenant.id, actor=Actor.system("test")):
        pass
    return tenant


def test_the_summary_answers_exact_figures_per_period(client: FlaskClient, clean: Runtime, shop) -> None:  # type: ignore[no-untyped-def]
    today = clean.clock.now().date()
    start = today - timedelta(days=6)
    response = client.get(
        f"/api/v1/reports/summary?from={start}&to={today}&group_by=day&currency=EUR",
        headers=auth(shop.keys.secret_key),
    )
    assert response.status_code == 200, response.json
    body = response.json
    assert body["object"] == "report_summary" and body["from"] == start.isoformat()
    (eur,) = body["data"]
    totals = eur["totals"]
    assert totals["payments"] == 3 and totals["succeeded"] == 2 and totals["failed"] == 1
    assert totals["volume"] == 3001 and totals["refunded"] == 500
    assert totals["average_ticket"] == 1501  # 1500.5 rounded half up
    assert totals["approval_rate"] == pytest.approx(0.6667)
    fees = (1000 * 140 + 5000) // 10000 + 25 + (2001 * 140 + 5000) // 10000 + 25
    assert totals["fees"] == fees and totals["net"] == 3001 - fees - 500
    assert [p["start"] for p in eur["periods"]] == [(start + timedelta(days=i)).isoformat() for i in range(7)]
    assert eur["periods"][-1]["volume"] == 3001 and sum(p["payments"] for p in eur["periods"]) == 3


def test_grouping_by_month_and_an_empty_currency(client: FlaskClient, clean: Runtime, shop) -> None:  # type: ignore[no-untyped-def]
    response = client.get(
        "/api/v1/reports/summary?group_by=month&currency=usd", headers=auth(shop.keys.secret_key)
    )
    assert response.status_code == 200
    (usd,) = response.json["data"]
    assert (
        usd["currency"] == "USD" and usd["totals"]["payments"] == 0 and usd["totals"]["approval_rate"] is None
    )


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("from=2026-13-01", "from"),
        ("to=yesterday", "to"),
        ("from=2026-12-01&to=2026-11-01", "to"),
        ("group_by=year", "group_by"),
        ("currency=XXY", "currency"),
        ("country=Germany", "country"),
        ("from=2020-01-01&to=2026-01-01", "from"),
        ("colour=red", "colour"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_parameter(
    client: FlaskClient,
    clean: Runtime,
    shop,
    query: str,
    param: str,  # type: ignore[no-untyped-def]
) -> None:
    response = client.get(f"/api/v1/reports/summary?{query}", headers=auth(shop.keys.secret_key))
    assert response.status_code == 400, response.json
    assert response.json["error"]["param"] == param


def test_a_key_without_reports_read_is_refused(client: FlaskClient, clean: Runtime, shop) -> None:  # type: ignore[no-untyped-def]
    with clean.db.unit_of_work(tenant_id=shop.id) as uow:
        _record, key = api_keys.create_restricted(
            uow.session,
            clean.context(uow, Actor.system("test")),
            tenant_id=shop.id,
            mode=KeyMode.TEST,
            permissions=frozenset({Permission.PAYMENTS_READ}),
        )
    assert client.get("/api/v1/reports/summary", headers=auth(key)).status_code == 403


def test_the_summary_is_in_the_openapi_document(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").json
    operation = document["paths"]["/reports/summary"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"from", "to", "group_by", "currency"}
