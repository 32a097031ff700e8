from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.factories import PASSWORD
from tests.fixtures import Factories

pytestmark = pytest.mark.browser


def test_a_deep_link_is_kept_through_sign_in_and_sign_out_everywhere_ends_it(
    page: Page, make: Factories
) -> None:
    tenant = make.tenants(name="Acme Coffee")
    page.goto("/portal/payments?status=failed")
    expect(page).to_have_url(re.compile(r"/portal/login\?next="))
    page.get_by_label("Email").fill(tenant.owner_email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Authentication code").fill(tenant.code())
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/portal/payments\?status=failed$"))
    page.get_by_role("link", name=tenant.owner_email).click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    page.get_by_role("button", name="Sign out everywhere").click()
    expect(page).to_have_url(re.compile(r"/portal/login$"))
    expect(page.get_by_text("You are signed out everywhere (1 session ended).")).to_be_visible()
    page.goto("/portal/payments")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
