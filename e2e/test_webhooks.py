"""The portal's webhooks screen in real Chromium: add an endpoint (secret shown once), read the delivery
log, and replay the failed deliveries of an endpoint after an outage."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from core.clock import FrozenClock, system_clock
from core.context import Actor
from core.jobs.runtime import Runtime
from core.webhooks import service
from tests.factories import PASSWORD, MadeTenant
from tests.fixtures import Factories
from tests.webhooks_helpers import create_endpoint, deliveries, drain, receiver

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screens"


def _sign_in(page: Page, tenant: MadeTenant) -> None:
    page.goto("/portal/login")
    page.get_by_label("Email").fill(tenant.owner_email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Authentication code").fill(tenant.code())
    page.keyboard.press("Enter")
    expect(page.get_by_role("link", name="Webhooks")).to_be_visible()


def test_replay_from_the_portal_redelivers_the_failed_events(
    page: Page, make: Factories, clean: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = clean
    monkeypatch.setattr(rt, "settings", rt.settings.with_changes(webhooks_allow_private=True))
    tenant = make.tenants()
    with receiver(status=500) as hook:
        endpoint, _ = create_endpoint(rt, tenant, hook.url, description="Shop backend")
        # An outage for the whole schedule, by time travel: both test events end dead.
        frozen = FrozenClock(datetime.now(UTC))
        monkeypatch.setattr(rt, "clock", frozen)
        for _ in range(2):
            with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
                service.send_test_event(
                    uow.session, rt.context(uow, Actor.system("test")), endpoint_id=endpoint.id
                )
        drain(rt)
        for base in service.RETRY_SCHEDULE:
            frozen.advance(seconds=base * 1.1 + 1)
            drain(rt)
        # The session's background worker may have held an attempt while a drain ran: give that
        # delivery its remaining attempts too (bounded), so both end dead whoever ran them.
        for _ in range(len(service.RETRY_SCHEDULE) * 2):
            if {d.status for d in deliveries(rt, tenant)} == {"dead"}:
                break
            time.sleep(0.2)
            frozen.advance(seconds=max(service.RETRY_SCHEDULE) * 1.1 + 1)
            drain(rt)
        monkeypatch.setattr(rt, "clock", system_clock)
        assert {d.status for d in deliveries(rt, tenant)} == {"dead"}
        failed_calls = len(hook.received)
        hook.status = 200

        _sign_in(page, tenant)
        page.get_by_role("link", name="Webhooks").click()
        page.get_by_role("link", name=endpoint.id).click()
        expect(page.get_by_role("alert")).to_contain_text("failed for about three days")
        expect(page.get_by_text("dead")).to_have_count(2)
        for width in (1280, 390):
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(path=str(SHOTS / f"portal-webhook-failing-{width}.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})
        since = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
        page.get_by_label("Replay failed since").fill(since)
        page.get_by_role("button", name="Replay failed deliveries").click()
        expect(page.get_by_text("Replaying 2 failed deliveries.")).to_be_visible()
        drain(rt)
        page.reload()
        expect(page.get_by_text("succeeded")).to_have_count(2)
        expect(page.locator("h1 .badge")).to_have_text("active")
    assert len(hook.received) == failed_calls + 2
    assert all(d.status == "succeeded" for d in deliveries(rt, tenant))


def test_adding_an_endpoint_shows_its_secret_once(
    page: Page, make: Factories, clean: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clean, "settings", clean.settings.with_changes(webhooks_allow_private=True))
    tenant = make.tenants()
    _sign_in(page, tenant)
    page.get_by_role("link", name="Webhooks").click()
    page.get_by_label("Endpoint URL").fill("http://10.0.0.1/hooks")
    monkeypatch.setattr(clean, "settings", clean.settings.with_changes(webhooks_allow_private=False))
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.get_by_role("alert")).to_contain_text("private")
    page.get_by_label("Endpoint URL").fill("https://93.184.216.34/kassa/hooks")
    page.get_by_label("Event types").fill("payment.succeeded refund.succeeded")
    page.get_by_role("button", name="Add endpoint").click()
    secret = page.locator("#webhook-secret")
    expect(secret).to_have_text(re.compile(r"^whsec_"))
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"portal-webhook-created-{width}.png"), full_page=True)
    page.get_by_role("link", name="← Webhooks").click()
    expect(page.get_by_text("payment.succeeded, refund.succeeded")).to_be_visible()
    page.get_by_role("link", name=re.compile(r"^we_")).click()
    expect(page.get_by_text("payment.succeeded, refund.succeeded")).to_be_visible()
    expect(page.locator("#webhook-secret")).to_have_count(0)  # shown once only
