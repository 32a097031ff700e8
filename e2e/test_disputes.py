"""A disputed test payment in the portal: the merchant sees the dispute with its countdown, submits evidence
with a file through the form in real Chromium, the sandbox rules it won and the funds come back."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from core.audit.models import AuditEvent
from core.clock import FrozenClock
from core.context import Actor
from core.disputes import service as disputes
from core.events.models import Event
from core.jobs.runtime import Runtime
from core.ledger import service as ledger
from tests.factories import PASSWORD
from tests.fixtures import Factories

pytestmark = pytest.mark.browser

# Screenshots to look at (desktop and phone width); test-results/ is not committed.
SHOTS = Path(__file__).resolve().parent.parent / "test-results" / "payouts"


def _available(rt: Runtime, tenant_id: str) -> int:
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        rows = ledger.balances(uow.session, tenant_id=tenant_id).available
    return sum(int(r["amount"]) for r in rows if r["currency"] == "EUR")


def test_evidence_submitted_from_the_portal_wins_the_dispute_and_the_funds_return(
    page: Page, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants(name="Dispute Shop")
    payment = make.payments(tenant=tenant, amount=10_000, card_number="4000 0000 0000 0259")
    before = _available(clean, tenant.id)
    later = FrozenClock(datetime.now(UTC) + timedelta(minutes=1))
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        ctx = replace(clean.context(uow, Actor.system("sandbox")), clock=later)
        [dispute] = disputes.open_sandbox_disputes(uow.session, ctx, tenant_id=tenant.id)
        dp_id = dispute.id
    assert _available(clean, tenant.id) == before - 10_000 - disputes.DISPUTE_FEE

    page.goto("/portal/login")
    page.get_by_label("Email").fill(tenant.owner_email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/portal/login/code$"))
    page.get_by_label("Authentication code").fill(tenant.code())
    page.keyboard.press("Enter")
    page.get_by_role("link", name="Disputes").click()
    page.get_by_role("link", name=dp_id).click()
    expect(page.get_by_test_id("dispute-status")).to_have_text("needs response")
    expect(page.get_by_test_id("countdown")).to_contain_text("left")
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1280, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SHOTS / f"dispute-{width}.png"), full_page=True)
    page.get_by_label("Other evidence").fill("Delivered on 28 November, signed for by the customer.")
    page.get_by_label("Files (PDF, PNG or JPEG, 4 MB each)").set_input_files(
        files=[
            {"name": "delivery.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4 proof of delivery"}
        ]
    )
    page.get_by_role("button", name="Submit evidence").click()
    expect(page.get_by_text("Evidence submitted: the dispute is under review.")).to_be_visible()
    expect(page.get_by_test_id("dispute-status")).to_have_text("under review")
    expect(page.get_by_text("delivery.pdf (application/pdf")).to_be_visible()

    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        [closed] = disputes.decide(
            uow.session, clean.context(uow, Actor.system("sandbox")), tenant_id=tenant.id
        )
        assert closed.status == "won"
    page.reload()
    expect(page.get_by_test_id("dispute-status")).to_have_text("won")
    assert _available(clean, tenant.id) == before
    page.get_by_role("link", name="Payouts", exact=True).click()
    expect(page.get_by_role("heading", name="Balance")).to_be_visible()
    page.set_viewport_size({"width": 1280, "height": 800})
    page.screenshot(path=str(SHOTS / "balance-1280.png"), full_page=True)

    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        types = uow.session.scalars(
            select(Event.type).where(Event.object_id == dp_id).order_by(Event.sequence)
        ).all()
        assert types == ["dispute.created", "dispute.updated", "dispute.closed"]
        audited = uow.session.scalars(
            select(AuditEvent).where(AuditEvent.subject_id == dp_id).order_by(AuditEvent.seq)
        ).all()
        assert [a.action for a in audited] == [
            "dispute.created",
            "dispute.evidence.submitted",
            "dispute.closed",
        ]
        assert audited[1].actor_type == "user"
    assert payment.id
