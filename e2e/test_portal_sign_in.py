from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from core.jobs.runtime import Runtime
from tests.factories import PASSWORD
from tests.fixtures import Factories

pytestmark = pytest.mark.browser


def test_the_sign_in_page_loads_with_its_fields(page: Page) -> None:
    page.goto("/portal/login")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_label("Email")).to_be_visible()
    expect(page.get_by_label("Password")).to_be_visible()
    # htmx came from npm via static/vendor and ran under the nonce'd CSP.
    assert page.evaluate("typeof window.htmx") == "object"


def test_an_admin_signs_in_with_password_and_authentication_code(
    page: Page, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants(name="Acme Coffee")
    page.goto("/portal/login")
    page.get_by_label("Email").fill(tenant.owner_email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/portal/login/code$"))
    page.get_by_label("Authentication code").fill(tenant.code())
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Acme Coffee")).to_be_visible()
    expect(page.get_by_text(tenant.keys.publishable_key)).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/portal/login$"))
    expect(page.get_by_text("You are signed out.")).to_be_visible()


def test_a_wrong_password_is_announced_next_to_the_field(page: Page, make: Factories) -> None:
    tenant = make.tenants()
    page.goto("/portal/login")
    page.get_by_label("Email").fill(tenant.owner_email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    expect(alert).to_have_text("Email or password is incorrect.")
    expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")


def test_an_admin_finds_a_payment_in_the_portal(page: Page, make: Factories, clean: Runtime) -> None:
    from tests.payments_helpers import confirm, work_until_settled

    tenant = make.tenants()
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        from core.payments import sessions
        from tests.payments_helpers import SHOPPER

        ctx = sessions.SessionTerms(
            tenant_id=tenant.id,
            livemode=False,
            allowed_methods=["card", "wallet", "bank"],
        )
        paid_cs = sessions.create(
            uow.session, clean.context(uow, SHOPPER), terms=ctx, data={"amount": 1999, "currency": "EUR"}
        )
        failed_cs = sessions.create(
            uow.session, clean.context(uow, SHOPPER), terms=ctx, data={"amount": 500, "currency": "EUR"}
        )
    paid = confirm(clean, tenant, paid_cs.id)
    failed = confirm(clean, tenant, failed_cs.id, card_number="4000000000000002")
    work_until_settled(clean, tenant, paid)
    work_until_settled(clean, tenant, failed)

    page.goto("/portal/login")
    page.get_by_label("Email").fill(tenant.owner_email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Authentication code").fill(tenant.code())
    page.keyboard.press("Enter")
    page.get_by_role("link", name="Payments").click()
    expect(page.get_by_role("link", name=paid)).to_be_visible()
    page.get_by_label("Status").select_option("failed")  # htmx swaps the rows in place
    expect(page.get_by_role("link", name=failed)).to_be_visible()
    expect(page.get_by_role("link", name=paid)).to_have_count(0)
    page.get_by_role("link", name=failed).click()
    expect(page.get_by_role("heading", name=re.compile("€5.00"))).to_be_visible()
    expect(page.get_by_text("card_declined: Your card was declined.")).to_be_visible()
