"""Single sign-on in real Chromium: a tenant that requires it sends its member to the (real, local) OpenID
provider of tests/oidc_provider.py and back signed in; an owner configures it on the settings page."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from core.jobs.runtime import Runtime
from e2e.test_accessibility import AXE, assert_accessible
from tests.factories import PASSWORD
from tests.fixtures import Factories
from tests.oidc_provider import Provider
from tests.tenants.test_sso import configure, domain_of

pytestmark = pytest.mark.browser

#: Where the screenshots go (looked at by a person; docs/screens/ holds the committed ones).
SHOTS = Path(os.environ.get("KASSA_SCREENSHOTS", "/tmp/kassa-screens"))  # noqa: S108  (a test's scratch folder)
WIDTHS = {1280: 800, 390: 844}


def stay_on_this_machine(page: Page) -> None:
    """Anything but the live server and the provider is answered empty here, never fetched."""

    def local_only(route: Route) -> None:
        if re.match(r"^https?://(127\.0\.0\.1|localhost)(:\d+)?/", route.request.url):
            route.continue_()
        else:
            route.fulfill(status=204, body="")

    page.context.route("**/*", local_only)


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})


def sign_in_at_provider(page: Page, provider: Provider, sub: str) -> None:
    expect(page).to_have_url(re.compile(re.escape(provider.issuer) + r"/oauth2/authorize\?"))
    page.get_by_placeholder("sub").fill(sub)
    page.get_by_role("button", name="Authorize").click()


@pytest.mark.error_status_expected
def test_a_tenant_requiring_sso_sends_its_member_to_the_provider_and_back_signed_in(
    page: Page, make: Factories, clean: Runtime, oidc_provider: Provider
) -> None:
    stay_on_this_machine(page)
    tenant = make.tenants(name="Strict Coffee")
    configure(clean, tenant, oidc_provider, required=True)
    sub = oidc_provider.new_user(tenant.owner_email, amr=["pwd", "mfa"])
    page.goto("/portal/login")
    page.get_by_label("Email").fill(tenant.owner_email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Single sign-on required")).to_be_visible()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Strict Coffee requires you to sign in through Test IdP")
    shoot(page, "portal-sso-required")
    page.get_by_role("link", name="Sign in with Test IdP").click()
    sign_in_at_provider(page, oidc_provider, sub)
    # The provider reported a second factor (amr "mfa"): no Kassa code is asked for.
    expect(page.get_by_role("heading", name="Strict Coffee")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/portal/$"))
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/portal/login$"))


def test_a_member_chooses_sso_on_the_sign_in_page_and_confirms_with_the_kassa_code(
    page: Page, make: Factories, clean: Runtime, oidc_provider: Provider
) -> None:
    stay_on_this_machine(page)
    tenant = make.tenants(name="Relaxed Tea")
    configure(clean, tenant, oidc_provider)
    sub = oidc_provider.new_user(tenant.owner_email, amr=["pwd"])
    page.goto("/portal/login")
    page.get_by_role("link", name="Sign in with single sign-on").click()
    page.get_by_label("Merchant account").fill(tenant.tenant.slug)
    shoot(page, "portal-sso-choose")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_text("Relaxed Tea signs in through Test IdP.")).to_be_visible()
    page.get_by_role("link", name="Sign in with Test IdP").click()
    sign_in_at_provider(page, oidc_provider, sub)
    # No second factor at the provider: Kassa's own authentication code follows.
    expect(page).to_have_url(re.compile(r"/portal/login/code$"))
    page.get_by_label("Authentication code").fill(tenant.code())
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Relaxed Tea")).to_be_visible()


def test_an_owner_configures_single_sign_on(
    page: Page, make: Factories, clean: Runtime, oidc_provider: Provider
) -> None:
    stay_on_this_machine(page)
    tenant = make.tenants(name="Acme Coffee")
    page.goto("/portal/login")
    page.get_by_label("Email").fill(tenant.owner_email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Authentication code").fill(tenant.code())
    page.keyboard.press("Enter")
    page.get_by_role("link", name="Single sign-on").click()
    expect(page.get_by_role("heading", name="Single sign-on", exact=True)).to_be_visible()
    page.get_by_label("Issuer URL").fill(oidc_provider.issuer)
    page.get_by_label("Client ID").fill("kassa-portal")
    page.get_by_label("Client secret", exact=True).fill("a-client-secret-from-the-provider")
    page.get_by_label("Allowed email domains").fill(domain_of(tenant))
    page.get_by_label("Button label").fill("Test IdP")
    page.get_by_label("Turn single sign-on on").check()
    page.get_by_label("Require single sign-on: members cannot sign in with a password").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Single sign-on settings saved.")).to_be_visible()
    expect(page.get_by_text("Stored (encrypted)")).to_be_visible()
    expect(page.get_by_label("Client secret", exact=True)).to_have_value("")
    shoot(page, "portal-sso-settings")


@pytest.fixture(scope="module")
def axe_source() -> str:
    return AXE.read_text(encoding="utf-8")


@pytest.fixture
def audited(browser: Browser, live_server: str, clean: Runtime) -> Iterator[Page]:
    """A tab that may inject axe-core (it bypasses the CSP, like e2e/test_accessibility.py's)."""
    context = browser.new_context(base_url=live_server, bypass_csp=True)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert not errors, f"browser errors: {errors}"


def test_the_single_sign_on_screens_have_no_serious_accessibility_violation(
    audited: Page, axe_source: str, make: Factories, clean: Runtime, oidc_provider: Provider
) -> None:
    page = audited
    stay_on_this_machine(page)
    strict, owner_shop = make.tenants(name="Strict Coffee"), make.tenants(name="Acme Coffee")
    configure(clean, strict, oidc_provider, required=True)
    page.goto("/portal/sso")
    assert_accessible(page, axe_source, "the account form")
    page.get_by_label("Merchant account").fill("no-such-shop")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert_accessible(page, axe_source, "the account form with an error")
    page.goto("/portal/login")
    page.get_by_label("Email").fill(strict.owner_email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Single sign-on required")).to_be_visible()
    assert_accessible(page, axe_source, "the SSO-required page")
    page.goto("/portal/sso/callback?state=forged&code=x")
    expect(page.get_by_role("heading", name="Single sign-on failed")).to_be_visible()
    assert_accessible(page, axe_source, "the failure page")
    page.goto("/portal/login")
    page.get_by_label("Email").fill(owner_shop.owner_email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Authentication code").fill(owner_shop.code())
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Acme Coffee")).to_be_visible()
    page.goto("/portal/settings/sso")
    assert_accessible(page, axe_source, "the settings page")
    page.get_by_label("Issuer URL").fill("ftp://nowhere")
    page.get_by_label("Client ID").fill("kassa-portal")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("The issuer must be an https:// URL.")).to_be_visible()
    assert_accessible(page, axe_source, "the settings page with an error")
