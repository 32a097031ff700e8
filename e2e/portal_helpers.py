"""Signing in to the portal in a real browser, for the portal's browser tests."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.factories import PASSWORD, MadeTenant


def sign_in(page: Page, tenant: MadeTenant, then: str = "/portal/") -> None:
    page.goto("/portal/login?next=" + then)
    page.get_by_label("Email").fill(tenant.owner_email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Authentication code").fill(tenant.code())
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(re.escape(then) + "$"))
