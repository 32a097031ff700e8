"""Team, API keys and four-eyes approvals in real Chromium: the invitation accepted in a fresh browser
context, a support agent's partial refund, a refund held above the threshold and approved by a second
person; axe-core on every new screen; the same screens with JavaScript off; screenshots at 1280 and 390 px
(test-results/screens/, copied to docs/screens/team-*.png), looked at by a person when they change."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from flask.testing import FlaskClient
from playwright.sync_api import Browser, BrowserContext, Page, expect

from core.jobs.runtime import Runtime
from e2e.test_accessibility import assert_accessible, axe_source  # noqa: F401  (a fixture)
from tenants.models import Role
from tests.factories import PASSWORD, MadeTenant
from tests.fixtures import Factories
from tests.portal.team_helpers import add_member, invitation_link
from tests.smtp_server import SmtpServer
from tests.test_route_permissions import paid, refunds_of

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("background_worker")]

#: Where each run leaves its screenshots (git-ignored); docs/screens/team-*.png are copies, refreshed by hand
#: after a look when a screen changes.
SCREENS = Path(__file__).resolve().parent.parent / "test-results" / "screens"
NEW_PASSWORD = "a long new password 42"


@pytest.fixture
def contexts(browser: Browser, live_server: str, clean: Runtime) -> Iterator[list[BrowserContext]]:
    """Fresh browser contexts (separate cookie jars: separate people), closed after the test. axe-core runs
    inside the page, so these bypass the CSP (see e2e/test_accessibility.py `audited`)."""
    made: list[BrowserContext] = []
    yield made
    for context in made:
        context.close()


def new_tab(browser: Browser, live_server: str, made: list[BrowserContext], *, js: bool = True) -> Page:
    context = browser.new_context(base_url=live_server, bypass_csp=True, java_script_enabled=js)
    made.append(context)
    return context.new_page()


def sign_in(page: Page, email: str, secret: str) -> None:
    page.goto("/portal/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Authentication code").fill(pyotp.TOTP(secret).now())
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


#: What sticks out of the viewport (a page that scrolls sideways on a phone).
WIDER = """(width) => [...document.querySelectorAll('body *')]
  .filter((el) => el.getBoundingClientRect().right > width + 1 && !el.parentElement.closest('.table-scroll'))
  .map((el) => el.tagName.toLowerCase() + (el.className ? '.' + el.className : ''))"""


def shoot(page: Page, name: str) -> None:
    """Screenshots at 1280 and 390 px; at 390 nothing but a scrolling table may be wider than the screen."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1280, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= width, f"{name} scrolls sideways at {width} px: {page.evaluate(WIDER, width)}"
        page.screenshot(path=str(SCREENS / f"team-{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})


def owner_secret(tenant: MadeTenant) -> str:
    return tenant.totp_secret


def test_an_admin_invites_support_who_accepts_in_a_fresh_browser_and_refunds_part_of_a_payment(
    browser: Browser,
    live_server: str,
    contexts: list[BrowserContext],
    client: FlaskClient,
    make: Factories,
    clean: Runtime,
    mail_to_smtp: SmtpServer,
    axe_source: str,  # noqa: F811
) -> None:
    tenant = make.tenants(name="Acme Coffee")
    payment_id = paid(client, clean, tenant, amount=4000)
    admin = new_tab(browser, live_server, contexts)
    sign_in(admin, *add_member(clean, tenant, Role.ADMIN))
    admin.get_by_role("link", name="Team", exact=True).click()
    expect(admin.get_by_role("heading", name="Team", exact=True)).to_be_visible()
    admin.get_by_label("Email").fill("agent@acme.example")
    admin.get_by_label("Role", exact=True).select_option("support")
    admin.get_by_role("button", name="Send invitation").click()
    expect(admin.get_by_text("Invitation sent to agent@acme.example.")).to_be_visible()
    assert_accessible(admin, axe_source, "the team page")
    shoot(admin, "members")

    [delivery] = mail_to_smtp.inbox.wait_for(1, timeout=15)
    link = invitation_link(delivery.text("plain"))
    invitee = new_tab(browser, live_server, contexts)  # a fresh context: nobody's cookies
    invitee.goto(link)
    expect(invitee.get_by_role("heading", name="Join Acme Coffee")).to_be_visible()
    assert_accessible(invitee, axe_source, "the invitation page")
    shoot(invitee, "invitation")
    invitee.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    invitee.get_by_label("Confirm password").fill(NEW_PASSWORD)
    invitee.get_by_role("button", name="Accept invitation").click()
    expect(invitee.get_by_text("You joined Acme Coffee. Sign in to continue.")).to_be_visible()
    invitee.get_by_label("Email").fill("agent@acme.example")
    invitee.get_by_label("Password").fill(NEW_PASSWORD)
    invitee.get_by_role("button", name="Sign in").click()
    key = invitee.locator("code.secret").inner_text()
    invitee.get_by_label("Authentication code").fill(pyotp.TOTP(key).now())
    invitee.keyboard.press("Enter")
    # The ten recovery codes are shown once after enrolling (tenants/sign_in.py), then the portal.
    invitee.get_by_role("link", name="I have saved my codes: continue").click()
    expect(invitee.get_by_text("support", exact=True)).to_be_visible()

    invitee.goto(f"/portal/payments/{payment_id}")
    invitee.get_by_label(re.compile("Amount to refund")).fill("12.50")
    invitee.get_by_role("button", name="Refund…").click()
    invitee.get_by_role("button", name="Refund €12.50").click()  # the confirmation step
    expect(invitee.get_by_text(re.compile(r"Refunded €12\.50"))).to_be_visible()
    assert [r.amount for r in refunds_of(clean, tenant, payment_id)] == [1250]

    analyst = new_tab(browser, live_server, contexts)
    sign_in(analyst, *add_member(clean, tenant, Role.ANALYST))
    analyst.goto(f"/portal/payments/{payment_id}")
    expect(analyst.get_by_role("heading", name=re.compile("€40.00"))).to_be_visible()
    expect(analyst.get_by_role("button", name="Refund")).to_have_count(0)


def test_a_refund_above_the_threshold_waits_for_a_second_person(
    browser: Browser,
    live_server: str,
    contexts: list[BrowserContext],
    client: FlaskClient,
    make: Factories,
    clean: Runtime,
    axe_source: str,  # noqa: F811
) -> None:
    tenant = make.tenants(name="Bean Street")
    payment_id = paid(client, clean, tenant, amount=9000)
    owner = new_tab(browser, live_server, contexts)
    sign_in(owner, tenant.owner_email, owner_secret(tenant))
    owner.goto("/portal/approvals/settings")
    owner.get_by_label("Refunds above an amount").check()
    owner.get_by_label("Amounts per currency").fill("EUR 50.00")
    owner.get_by_role("button", name="Save").click()
    expect(owner.get_by_text("Approval rules saved.")).to_be_visible()
    owner.goto("/portal/approvals/settings")
    assert_accessible(owner, axe_source, "the approval rules page")
    shoot(owner, "approval-rules")

    admin = new_tab(browser, live_server, contexts)
    sign_in(admin, *add_member(clean, tenant, Role.ADMIN))
    admin.goto(f"/portal/payments/{payment_id}")
    admin.get_by_label(re.compile("Amount to refund")).fill("60.00")
    admin.get_by_role("button", name="Refund…").click()
    admin.get_by_label("Reason, if it needs approval").fill("Damaged in transit")  # on the confirmation
    admin.get_by_role("button", name="Refund €60.00").click()
    expect(admin.get_by_text(re.compile("needs a second person's approval"))).to_be_visible()
    assert refunds_of(clean, tenant, payment_id) == []
    admin.get_by_role("link", name=re.compile("^Approvals")).click()
    admin.get_by_role("link", name=re.compile("^apr_")).click()
    expect(admin.get_by_role("button", name="Approve")).to_have_count(0)  # never one's own

    owner.goto("/portal/")
    expect(owner.locator(".count")).to_have_text("1")
    owner.get_by_role("link", name=re.compile("^Approvals")).click()
    assert_accessible(owner, axe_source, "the approvals list")
    shoot(owner, "approvals")
    owner.get_by_role("link", name=re.compile("^apr_")).click()
    expect(owner.get_by_text("Damaged in transit")).to_be_visible()
    assert_accessible(owner, axe_source, "an approval request")
    shoot(owner, "approval-request")
    owner.get_by_role("button", name="Approve").click()
    expect(owner.get_by_text("Approved and carried out.")).to_be_visible()
    assert [r.amount for r in refunds_of(clean, tenant, payment_id)] == [6000]
    expect(owner.locator(".count")).to_have_count(0)


def test_the_api_keys_screen_creates_a_restricted_key_shown_once_and_revokes_it(
    browser: Browser,
    live_server: str,
    contexts: list[BrowserContext],
    make: Factories,
    clean: Runtime,
    axe_source: str,  # noqa: F811
) -> None:
    tenant = make.tenants()
    page = new_tab(browser, live_server, contexts)
    sign_in(page, tenant.owner_email, owner_secret(tenant))
    page.get_by_role("link", name="API keys").click()
    page.get_by_label("payments:read").check()
    page.get_by_role("button", name="Create secret key").click()
    secret = page.locator("#new-secret").inner_text()
    assert secret.startswith("sk_test_")
    assert_accessible(page, axe_source, "the API keys page")
    shoot(page, "api-keys")
    page.goto("/portal/api-keys")
    expect(page.get_by_text(secret)).to_have_count(0)  # shown once
    row = page.get_by_role("row").filter(has_text="payments:read")
    row.get_by_role("button", name=re.compile("^Revoke")).click()
    expect(page.get_by_text(re.compile("revoked: every use of it is refused"))).to_be_visible()


def test_team_and_approvals_work_with_javascript_off(
    browser: Browser,
    live_server: str,
    contexts: list[BrowserContext],
    client: FlaskClient,
    make: Factories,
    clean: Runtime,
) -> None:
    tenant = make.tenants()
    payment_id = paid(client, clean, tenant, amount=9000)
    owner = new_tab(browser, live_server, contexts, js=False)
    sign_in(owner, tenant.owner_email, owner_secret(tenant))
    owner.goto("/portal/team/roles/new")
    owner.get_by_label("Role name").fill("Bookkeeper")
    owner.get_by_label("payments:read").check()
    owner.get_by_label("reports:read").check()
    owner.get_by_role("button", name="Save role").click()
    expect(owner.get_by_text("Role saved.")).to_be_visible()
    owner.goto("/portal/approvals/settings")
    owner.get_by_label("Refunds above an amount").check()
    owner.get_by_label("Amounts per currency").fill("EUR 10.00")
    owner.get_by_role("button", name="Save").click()
    admin = new_tab(browser, live_server, contexts, js=False)
    sign_in(admin, *add_member(clean, tenant, Role.ADMIN))
    admin.goto(f"/portal/payments/{payment_id}")
    admin.get_by_label(re.compile("Amount to refund")).fill("20.00")
    admin.get_by_role("button", name="Refund…").click()
    admin.get_by_role("button", name="Refund €20.00").click()
    expect(admin.get_by_text(re.compile("needs a second person's approval"))).to_be_visible()
    owner.goto("/portal/approvals")
    owner.get_by_role("link", name=re.compile("^apr_")).click()
    owner.get_by_role("button", name="Approve").click()
    expect(owner.get_by_text("Approved and carried out.")).to_be_visible()
    assert [r.amount for r in refunds_of(clean, tenant, payment_id)] == [2000]
