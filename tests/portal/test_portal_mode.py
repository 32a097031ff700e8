"""The header's test/live switch: one mode per portal session, every screen shows only that mode's
objects, test mode wears a banner, the switch is audited and a new sign-in starts in test mode."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select

from core.audit import actions
from core.audit.models import AuditEvent
from core.jobs.runtime import Runtime
from tests.fixtures import Factories
from tests.live_mode import create_live_session
from tests.portal.test_payments_pages import rows
from tests.portal.test_sign_in import csrf_token, sign_in

BANNER = 'id="test-banner"'


def switch(client: FlaskClient, to: str, next_url: str = "/portal/payments") -> str:
    token = csrf_token(client.get("/portal/account").get_data(as_text=True))
    response = client.post("/portal/mode", data={"csrf_token": token, "mode": to, "next": next_url})
    assert response.status_code == 303
    return str(response.location)


def test_each_mode_shows_only_its_own_objects(client: FlaskClient, make: Factories, clean: Runtime) -> None:
    tenant = make.tenants()
    test_payment = make.payments(tenant=tenant, pending=True).id
    test_refund = make.refunds(tenant=tenant)
    live_cs = make.sessions(tenant=tenant, livemode=True, reference="LIVE-1")
    live_payment = make.payments(tenant=tenant, session=live_cs, pending=True).id
    sign_in(client, tenant)

    # Test mode, the default: a banner, test objects only, on every list and detail screen.
    page = client.get("/portal/payments").get_data(as_text=True)
    assert BANNER in page and 'aria-checked="true"' in page
    assert test_payment in rows(page) and live_payment not in page
    assert (
        live_payment
        not in client.get(f"/portal/payments?q={live_payment}").get_data(as_text=True).split("<tbody>")[1]
    )
    assert live_payment not in client.get("/portal/payments.csv").get_data(as_text=True)
    assert live_cs.id not in client.get("/portal/checkout-sessions").get_data(as_text=True)
    other = client.get(f"/portal/payments/{live_payment}")
    assert other.status_code == 404 and "live-mode payment" in other.get_data(as_text=True)
    assert client.get(f"/portal/checkout-sessions/{live_cs.id}").status_code == 404
    assert test_refund.id in rows(client.get("/portal/refunds").get_data(as_text=True))

    # Live mode: no banner, live objects only.
    assert switch(client, "live", f"/portal/payments/{test_payment}").endswith("/portal/payments")
    page = client.get("/portal/payments").get_data(as_text=True)
    assert BANNER not in page and 'aria-checked="false"' in page
    assert rows(page) == [live_payment] and test_payment not in page
    csv_text = client.get("/portal/payments.csv").get_data(as_text=True)
    assert live_payment in csv_text and test_payment not in csv_text
    assert rows(client.get("/portal/checkout-sessions").get_data(as_text=True)) == [live_cs.id]
    assert rows(client.get("/portal/refunds").get_data(as_text=True)) == []
    assert client.get(f"/portal/payments/{test_payment}").status_code == 404
    assert client.get(f"/portal/refunds/{test_refund.id}").status_code == 404
    assert client.get(f"/portal/payments/{live_payment}").status_code == 200
    assert "LIVE-1" in client.get(f"/portal/checkout-sessions/{live_cs.id}").get_data(as_text=True)
    # A refund POST of a test payment from live mode is refused like any missing payment.
    token = csrf_token(client.get("/portal/account").get_data(as_text=True))
    assert (
        client.post(f"/portal/payments/{test_payment}/refund", data={"csrf_token": token}).status_code == 404
    )

    # Back to test mode; the page the user was on stays when it is not one object.
    assert switch(client, "test", "/portal/payments?status=pending").endswith(
        "/portal/payments?status=pending"
    )
    assert test_payment in rows(client.get("/portal/payments").get_data(as_text=True))


def test_the_switch_is_audited_and_lasts_for_the_session_only(
    app: object, client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    create_live_session(clean, tenant)
    sign_in(client, tenant)
    switch(client, "live")
    switch(client, "live")  # already live: nothing changes, nothing is recorded
    assert BANNER not in client.get("/portal/").get_data(as_text=True)
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        recorded = uow.session.scalars(
            select(AuditEvent).where(AuditEvent.action == actions.PORTAL_MODE_SWITCHED)
        ).all()
    assert len(recorded) == 1 and str(recorded[0].actor_type) == "user"
    # Off-site or bad input: refused without a change, back to a portal page.
    token = csrf_token(client.get("/portal/account").get_data(as_text=True))
    evil = client.post(
        "/portal/mode", data={"csrf_token": token, "mode": "live", "next": "https://evil.example/"}
    )
    assert evil.status_code == 303 and evil.location.endswith("/portal/")
    bad = client.post("/portal/mode", data={"csrf_token": token, "mode": "staging"})
    assert bad.status_code == 303
    assert client.post("/portal/mode", data={"mode": "live"}).status_code == 400  # no CSRF token
    # Signing out ends the mode with the session: the next sign-in (which clears the cookie too) is in
    # test mode.
    with client.session_transaction() as cookie:
        assert cookie["mode"] == "live"
    client.post("/portal/logout", data={"csrf_token": token})
    with client.session_transaction() as cookie:
        assert "mode" not in cookie


def test_the_mode_helper_reads_the_session(app: object) -> None:
    from flask import Flask

    from portal import mode

    assert isinstance(app, Flask)
    with app.test_request_context("/portal/"):
        assert mode.livemode() is False and mode.mode() == "test"
        mode.set_mode("live")
        assert mode.livemode() is True
