"""Four-eyes approval of a payout bank account change in real Chromium: the owner turns it on, an admin
(a fresh browser context: another person) changes the account and sees it held, cannot approve it
themself, the owner approves and the new account becomes the one payouts go to; the settlement terms and
reserve are shown read-only; the reconciliation page takes a settlement file. axe-core on each screen,
screenshots at 1280 and 390 px (test-results/screens/payouts-*.png, copied to docs/screens/)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from core.context import Actor
from core.jobs.runtime import Runtime
from core.payouts import reconciliation, reserves
from core.payouts.models import BankAccount, BankAccountStatus
from e2e.test_accessibility import assert_accessible, axe_source  # noqa: F401  (a fixture)
from e2e.test_team import WIDER, contexts, new_tab, sign_in  # noqa: F401  (contexts: a fixture)
from tenants.models import Role
from tests.factories import MadeTenant
from tests.fixtures import Factories
from tests.portal.team_helpers import add_member

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("background_worker")]

SCREENS = Path(__file__).resolve().parent.parent / "test-results" / "screens"


def shoot(page: Page, name: str) -> None:
    """Screenshots at 1280 and 390 px; at 390 nothing but a scrolling table may be wider than the screen."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1280, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= width, f"{name} scrolls sideways at {width} px: {page.evaluate(WIDER, width)}"
        page.screenshot(path=str(SCREENS / f"payouts-{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})


def accounts_of(rt: Runtime, tenant: MadeTenant) -> dict[str, BankAccountStatus]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        return {a.last4: a.status for a in uow.session.scalars(select(BankAccount))}


def add_account(page: Page, iban: str, holder: str, reason: str = "") -> None:
    page.goto("/portal/payouts/settings")
    form = page.locator("form[action$='/bank_account']")
    form.get_by_label("Bank country").fill(iban[:2])
    form.get_by_label("Account holder").fill(holder)
    form.get_by_label("IBAN").fill(iban)
    if reason:
        form.get_by_label("Reason (if this needs approval)").fill(reason)
    form.get_by_role("button", name="Save bank account").click()


def test_a_bank_account_change_waits_for_a_second_person_in_the_portal(
    browser: Browser,
    live_server: str,
    contexts: list[BrowserContext],  # noqa: F811
    make: Factories,
    clean: Runtime,
    axe_source: str,  # noqa: F811
) -> None:
    tenant = make.tenants(name="Bean Street")
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        reserves.set_terms(
            uow.session,
            clean.context(uow, Actor.system("cli")),
            tenant_id=tenant.id,
            reason="New merchant: first 90 days",
            reserve_bps=500,
            reserve_days=90,
        )
    owner = new_tab(browser, live_server, contexts)
    sign_in(owner, tenant.owner_email, tenant.totp_secret)
    add_account(owner, "DE89370400440532013000", "Bean Street GmbH")
    expect(owner.get_by_text(re.compile(r"Bank account •••• 3000 saved"))).to_be_visible()

    owner.goto("/portal/approvals/settings")
    owner.get_by_label("Changing the payout bank account").check()
    owner.get_by_role("button", name="Save").click()
    expect(owner.get_by_text("Approval rules saved.")).to_be_visible()

    admin = new_tab(browser, live_server, contexts)
    sign_in(admin, *add_member(clean, tenant, Role.ADMIN))
    add_account(admin, "DE75512108001245126199", "Bean Street GmbH", reason="Our new house bank")
    expect(admin.locator(".flash")).to_contain_text("•••• 6199 needs a second person's approval")
    expect(admin.get_by_test_id("bank-four-eyes")).to_be_visible()
    expect(admin.get_by_role("link", name="awaiting approval")).to_be_visible()
    expect(admin.get_by_test_id("reserve-reason")).to_contain_text("New merchant: first 90 days")
    expect(admin.get_by_test_id("reserve-release")).to_contain_text("released on")
    assert "1245126199" not in admin.content()
    assert accounts_of(clean, tenant) == {
        "3000": BankAccountStatus.ACTIVE,
        "6199": BankAccountStatus.PENDING_APPROVAL,
    }
    assert_accessible(admin, axe_source, "the payout settings with a held change")
    shoot(admin, "settings-held")
    admin.get_by_role("link", name="awaiting approval").click()
    expect(admin.get_by_text("Our new house bank")).to_be_visible()
    expect(admin.get_by_role("button", name="Approve")).to_have_count(0)  # never one's own

    owner.goto("/portal/")
    expect(owner.locator(".count")).to_have_text("1")
    owner.get_by_role("link", name=re.compile("^Approvals")).click()
    owner.get_by_role("link", name=re.compile("^apr_")).click()
    expect(owner.get_by_text("Our new house bank")).to_be_visible()
    expect(owner.get_by_text(re.compile("•••• 6199"))).to_be_visible()
    assert_accessible(owner, axe_source, "a bank account approval request")
    shoot(owner, "bank-account-request")
    owner.get_by_role("button", name="Approve").click()
    expect(owner.get_by_text("Approved and carried out.")).to_be_visible()
    assert accounts_of(clean, tenant) == {
        "3000": BankAccountStatus.INACTIVE,
        "6199": BankAccountStatus.ACTIVE,
    }
    owner.goto("/portal/payouts/settings")
    expect(owner.get_by_role("link", name="awaiting approval")).to_have_count(0)
    expect(owner.locator("tr", has_text="•••• 6199")).to_contain_text("active")


def test_the_reconciliation_page_takes_a_settlement_file(
    browser: Browser,
    live_server: str,
    contexts: list[BrowserContext],  # noqa: F811
    make: Factories,
    clean: Runtime,
    axe_source: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    tenant = make.tenants(name="Bean Street")
    payment = make.payments(tenant=tenant, amount=4_200)
    day = clean.clock.now().date()
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        honest = reconciliation.sandbox_settlement_file(uow.session, tenant_id=tenant.id, day=day)
    file = tmp_path / "settlement.csv"
    file.write_text(honest.replace(f"capture,{payment.id},EUR,4200", f"capture,{payment.id},EUR,4100"))
    owner = new_tab(browser, live_server, contexts)
    sign_in(owner, tenant.owner_email, tenant.totp_secret)
    owner.goto("/portal/reconciliation")
    owner.get_by_label("Settlement file (CSV)").set_input_files(str(file))
    owner.get_by_role("button", name="Upload and reconcile").click()
    expect(owner.get_by_text(re.compile("1 difference"))).to_have_count(2)  # the flash and the run
    expect(owner.locator("tr.difference")).to_contain_text("amount_mismatch")
    assert_accessible(owner, axe_source, "the reconciliation page")
    shoot(owner, "reconciliation")
    bad = tmp_path / "bad.csv"
    bad.write_text("id,amount\n1,2\n")
    owner.get_by_label("Settlement file (CSV)").set_input_files(str(bad))
    owner.get_by_role("button", name="Upload and reconcile").click()
    expect(owner.get_by_text(re.compile("must start with the header"))).to_be_visible()
