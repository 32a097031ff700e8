"""`kassa payouts terms`: an operator sets a tenant's settlement delay and rolling reserve with a reason;
the merchant sees them read-only in the portal, with the reason and the release date."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient

from core.jobs.runtime import Runtime
from core.ledger import service as ledger
from tests.fixtures import Factories
from tests.portal.test_sign_in import sign_in


def test_an_operator_sets_the_terms_and_the_merchant_sees_them_read_only(
    app: Flask, client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    slug = tenant.tenant.slug
    runner = app.test_cli_runner()
    shown = runner.invoke(args=["payouts", "terms", "--tenant", slug])
    assert shown.exit_code == 0 and "settlement T+2 business days; no rolling reserve" in shown.output

    result = runner.invoke(
        args=["payouts", "terms", "--tenant", slug, "--delay-days", "3", "--reserve-bps", "750",
              "--reserve-days", "60", "--reason", "New merchant: first 90 days"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "T+3 business days; rolling reserve 7.50 % for 60 days (manual: New merchant: first 90 days)" in (
        result.output
    )
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        terms = ledger.settlement_terms(uow.session, tenant_id=tenant.id)
    assert (terms.delay_days, terms.reserve_bps, terms.reserve_days) == (3, 750, 60)

    sign_in(client, tenant)
    page = client.get("/portal/payouts/settings").get_data(as_text=True)
    assert "T+3 business days" in page
    assert "7.50 % of each settled payment, held 60 days" in page
    assert "New merchant: first 90 days" in page
    release = (clean.clock.now() + timedelta(days=60)).date().isoformat()
    assert f'Funds held today are released on <time datetime="{release}">{release}</time>' in page
    assert 'name="reserve_bps"' not in page  # read-only: no form for it
    balance = client.get("/portal/balance").get_data(as_text=True)
    assert "7.50 % of each settled payment for 60 days" in balance and "New merchant" in balance


def test_bad_terms_are_clear_errors(app: Flask, make: Factories, clean: Runtime) -> None:
    tenant = make.tenants()
    runner = app.test_cli_runner()
    slug = tenant.tenant.slug
    cases = {
        ("--delay-days", "3"): "Give the reason",
        ("--reserve-bps", "20000", "--reserve-days", "30", "--reason", "x"): "reserve_bps must be a whole "
        "number from 0 to 10000",
        ("--reserve-bps", "500", "--reason", "x"): "days it is held",
        ("--delay-days", "31", "--reason", "x"): "delay_days must be a whole number from 0 to 30",
    }
    for args, message in cases.items():
        result = runner.invoke(args=["payouts", "terms", "--tenant", slug, *args])
        assert result.exit_code == 1 and message in result.output, (args, result.output)
        assert "Traceback" not in result.output
    unknown = runner.invoke(
        args=["payouts", "terms", "--tenant", "nope", "--delay-days", "1", "--reason", "x"]
    )
    assert unknown.exit_code == 1 and "Error:" in unknown.output
