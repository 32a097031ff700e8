"""The portal's notification bell, notifications page and preferences page, and the operations page,
without JavaScript (forms and redirects) and with htmx (fragments)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from core.audit.models import AuditEvent
from core.jobs.runtime import Runtime
from core.notifications.models import NotificationRecipient
from tests.core.test_notifications import PAYOUT, emit
from tests.factories import MadeTenant
from tests.fixtures import Factories
from tests.payments_helpers import work
from tests.portal.test_sign_in import csrf_token, sign_in
from tests.test_route_permissions import add_member, sign_in_as

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def bell(html: str) -> str:
    match = re.search(r'<a id="notification-bell".*?</a>', html, re.S)
    assert match, "every signed-in page has the bell"
    return match.group(0)


def two_payouts_failed(rt: Runtime, tenant: MadeTenant) -> None:
    emit(rt, tenant, "payout.failed", PAYOUT)
    emit(rt, tenant, "payout.failed", {**PAYOUT, "id": "po_01second"})
    work(rt)


def audited(rt: Runtime, tenant: MadeTenant) -> list[str]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        return list(uow.session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def test_the_bell_counts_unread_and_the_page_marks_them_read(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    assert "bell-count" not in bell(client.get("/portal/").get_data(as_text=True))
    two_payouts_failed(clean, tenant)

    home = client.get("/portal/").get_data(as_text=True)
    assert '>2<span class="visually-hidden"> unread</span>' in bell(home)
    page = client.get("/portal/notifications").get_data(as_text=True)
    assert "Payout po_01second failed (test mode)" in page and "€120.50" in page
    assert page.index("po_01second") < page.index("po_01testpayout")  # newest first

    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        newest = uow.session.scalars(
            select(NotificationRecipient).order_by(NotificationRecipient.id.desc())
        ).first()
    assert newest is not None
    # Without JavaScript: a form POST, then back to the page.
    token = csrf_token(page)
    answer = client.post(f"/portal/notifications/{newest.id}/read", data={"csrf_token": token})
    assert answer.status_code == 303 and answer.location.endswith("/portal/notifications")
    page = client.get("/portal/notifications").get_data(as_text=True)
    assert '>1<span class="visually-hidden"> unread</span>' in bell(page)
    unread_only = client.get("/portal/notifications?unread=1").get_data(as_text=True)
    assert "po_01testpayout" in unread_only and "po_01second" not in unread_only

    # With htmx: the item comes back read, and the bell out of band.
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        other = uow.session.scalars(
            select(NotificationRecipient).where(NotificationRecipient.read_at.is_(None))
        ).one()
    fragment = client.post(
        f"/portal/notifications/{other.id}/read", data={"csrf_token": token}, headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert "<html" not in fragment and f'id="item-{other.id}"' in fragment and "Mark read" not in fragment
    assert 'hx-swap-oob="true"' in fragment and "bell-count" not in bell(fragment)
    assert audited(clean, tenant).count("notification.read") == 2


def test_marking_needs_the_csrf_token_and_ones_own_copy(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    analyst_email, analyst_secret = add_member(clean, tenant, "analyst")  # type: ignore[arg-type]
    two_payouts_failed(clean, tenant)
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        owners = uow.session.scalars(
            select(NotificationRecipient).where(NotificationRecipient.user_id == tenant.owner.id)
        ).all()
    sign_in_as(client, analyst_email, analyst_secret)
    token = csrf_token(client.get("/portal/notifications").get_data(as_text=True))
    # Another member's copy: not found, and it stays unread.
    assert (
        client.post(f"/portal/notifications/{owners[0].id}/read", data={"csrf_token": token}).status_code
        == 404
    )
    assert client.post("/portal/notifications/ntr_bogus/read", data={"csrf_token": token}).status_code == 404
    # No token: nothing changes.
    client.post("/portal/notifications/read-all", data={})
    assert ">2<" in bell(client.get("/portal/notifications").get_data(as_text=True))
    client.post("/portal/notifications/read-all", data={"csrf_token": token})
    assert "bell-count" not in bell(client.get("/portal/notifications").get_data(as_text=True))
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        still = uow.session.scalars(
            select(NotificationRecipient.read_at).where(NotificationRecipient.user_id == tenant.owner.id)
        ).all()
    assert still == [None, None]


def test_preferences_are_saved_per_member_and_audited(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    page = client.get("/portal/notifications/preferences").get_data(as_text=True)
    assert 'name="email-payout_failed" checked' in page and "A webhook endpoint is failing" in page
    answer = client.post(
        "/portal/notifications/preferences",
        data={"csrf_token": csrf_token(page), "portal-payout_failed": "on", "portal-dispute_created": "on"},
    )
    assert answer.status_code == 303 and answer.location.endswith("/portal/notifications/preferences?saved=1")
    page = client.get(answer.location).get_data(as_text=True)
    assert "Your preferences are saved." in page
    assert 'name="email-payout_failed">' in page and 'name="portal-payout_failed" checked' in page
    assert 'name="portal-approval_rate_low">' in page  # unchecked: off
    assert "notification.preferences.updated" in audited(clean, tenant)
    emit(clean, tenant, "payout.failed", PAYOUT)
    work(clean)
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        [copy] = uow.session.scalars(select(NotificationRecipient)).all()
    assert copy.portal is True and str(copy.email_status) == "off"
    # A forged kind is ignored (only the kinds the member may receive are read): everything is off now.
    answer = client.post(
        "/portal/notifications/preferences", data={"csrf_token": csrf_token(page), "portal-bogus": "on"}
    )
    assert answer.status_code == 303
    page = client.get(answer.location).get_data(as_text=True)
    assert " checked" not in page and "bogus" not in page
    emit(clean, tenant, "payout.failed", {**PAYOUT, "id": "po_01second"})
    work(clean)
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        assert len(uow.session.scalars(select(NotificationRecipient)).all()) == 1


def test_a_viewer_is_offered_only_the_kinds_they_may_see(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    sign_in_as(client, *add_member(clean, tenant, "viewer"))  # type: ignore[arg-type]
    page = client.get("/portal/notifications/preferences").get_data(as_text=True)
    assert "Approval rate dropped" in page and "A payout failed" not in page and "webhook" not in page


def test_the_operations_page_is_for_operator_tenants_only(
    app: Flask, client: FlaskClient, make: Factories, clean: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    assert client.get("/portal/operations").status_code == 404
    monkeypatch.setattr(
        clean, "settings", clean.settings.with_changes(operator_tenants=(tenant.tenant.slug,))
    )
    page = client.get("/portal/operations").get_data(as_text=True)
    assert "Operations status" in page and '<th scope="row">payments</th>' in page
    assert "No worker is registered" in page and "Not healthy" in page
    fragment = client.get("/portal/operations", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and 'id="status"' in fragment


def test_kassa_status_prints_the_snapshot(
    app: Flask, make: Factories, clean: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json
    from datetime import UTC, datetime

    from rq import Worker
    from rq.serializers import JSONSerializer

    from core.clock import FrozenClock
    from core.jobs import outbox
    from core.jobs.maintenance import prune_outbox

    def status(*args: str) -> Any:
        result = app.test_cli_runner().invoke(args=["status", *args])
        return result

    body = json.loads(status("--json").output)
    assert [q["name"] for q in body["queues"]] == ["payments", "webhooks", "payouts", "default"]
    assert body["healthy"] is False and body["workers"] == []
    assert "NOT HEALTHY" in status().output and status("--check").exit_code == 1

    # A worker that registered and beats is alive; the check passes.
    worker = Worker(
        [clean.queue("default")], connection=clean.redis, serializer=JSONSerializer, name="w-test"
    )
    worker.register_birth()
    worker.heartbeat()
    try:
        body = json.loads(status("--json").output)
        assert [(w["name"], w["alive"]) for w in body["workers"]] == [("w-test", True)]
        assert body["healthy"] is True and status("--check").exit_code == 0
        assert "workers: 1 alive of 1" in status().output

        # A job written to the outbox and not relayed for three minutes: the backlog is stale.
        frozen = FrozenClock(datetime.now(UTC))
        monkeypatch.setattr(clean, "clock", frozen)
        tenant = make.tenants()
        with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
            outbox.add(uow, prune_outbox, clock=frozen, tenant_id=tenant.id)
        frozen.advance(minutes=3)
        body = json.loads(status("--json").output)
        assert body["outbox"]["due"] >= 1 and body["outbox"]["stale"] is True and body["healthy"] is False
        assert "STALE" in status().output
    finally:
        worker.register_death()
