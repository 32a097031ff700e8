"""Portal sessions are server-side: sign-out revokes them, idle and absolute limits end them, "sign out
everywhere" and disabling a user end them all. Time moves with a FrozenClock, never a sleep."""

from __future__ import annotations

from urllib.parse import quote

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from core.audit.models import AuditEvent
from core.clock import FrozenClock
from core.jobs.runtime import Runtime
from tenants.models import PortalSession
from tests.factories import PASSWORD, MadeTenant
from tests.fixtures import Factories
from tests.portal.test_sign_in import csrf_token, post_form

COOKIE = "kassa_session"


def sign_in(client: FlaskClient, tenant: MadeTenant, clock: FrozenClock, *, next_url: str = "") -> str:
    """Sign in with the code of the clock's time step; return where sign-in lands."""
    login = "/portal/login" + (f"?next={quote(next_url, safe='')}" if next_url else "")
    response = post_form(client, login, {"email": tenant.owner_email, "password": PASSWORD})
    assert response.status_code == 302 and response.location.endswith("/portal/login/code"), response.text
    code = pyotp.TOTP(tenant.totp_secret).at(clock.now())
    response = post_form(client, "/portal/login/code", {"code": code})
    assert response.status_code == 302, response.get_data(as_text=True)
    clock.advance(seconds=30)  # the next sign-in of this user needs the next code
    return str(response.location)


def is_signed_in(client: FlaskClient) -> bool:
    response = client.get("/portal/payments")
    if response.status_code == 302:
        assert "/portal/login" in response.location
        return False
    assert response.status_code == 200
    return True


def test_a_cookie_saved_before_sign_out_gets_the_sign_in_page_after_it(
    client: FlaskClient, make: Factories, clock: FrozenClock
) -> None:
    tenant = make.tenants()
    sign_in(client, tenant, clock)
    saved = client.get_cookie(COOKIE)
    assert saved is not None and is_signed_in(client)
    home = client.get("/portal/").get_data(as_text=True)
    client.post("/portal/logout", data={"csrf_token": csrf_token(home)})
    client.set_cookie(COOKIE, saved.value)  # an attacker's copy of the cookie
    response = client.get("/portal/payments")
    assert response.status_code == 302 and "/portal/login" in response.location


def test_sixteen_idle_minutes_end_the_session_fourteen_do_not(
    client: FlaskClient, make: Factories, clock: FrozenClock
) -> None:
    tenant = make.tenants()
    sign_in(client, tenant, clock)
    clock.advance(minutes=14)
    assert is_signed_in(client)
    clock.advance(minutes=16)
    assert not is_signed_in(client)


def test_thirteen_hours_of_activity_end_the_session(
    client: FlaskClient, make: Factories, clock: FrozenClock
) -> None:
    tenant = make.tenants()
    sign_in(client, tenant, clock)
    for _ in range(71):  # a page every 10 minutes: never idle, 11 h 50 min
        clock.advance(minutes=10)
        assert is_signed_in(client)
    clock.advance(minutes=70)  # 13 hours after sign-in, 10 minutes after the last page
    assert not is_signed_in(client)


def test_the_cookie_holds_only_a_new_token_and_the_database_only_its_hash(
    app: Flask, client: FlaskClient, make: Factories, clock: FrozenClock, clean: Runtime
) -> None:
    tenant = make.tenants()
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    tokens = []
    for browser in (client, app.test_client()):
        sign_in(browser, tenant, clock)
        cookie = browser.get_cookie(COOKIE)
        assert cookie is not None
        content = serializer.loads(cookie.value)
        assert set(content) - {"_permanent"} == {"sid"}  # no user or tenant id: those live server-side
        tokens.append(content["sid"])
    assert tokens[0] != tokens[1] and len(tokens[0]) >= 43  # 256 bits, new at every sign-in
    with clean.db.unit_of_work() as uow:
        ids = uow.session.scalars(select(PortalSession.id)).all()
    assert len(ids) == 2 and not set(tokens) & set(ids)


def test_sign_out_everywhere_ends_the_sessions_of_every_device(
    app: Flask, make: Factories, clock: FrozenClock, clean: Runtime
) -> None:
    tenant = make.tenants()
    laptop, phone = app.test_client(), app.test_client()
    sign_in(laptop, tenant, clock)
    sign_in(phone, tenant, clock)
    page = laptop.get("/portal/account")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "Sign out everywhere" in text and text.count("<tr><td><time") == 2
    assert laptop.post("/portal/logout/everywhere", data={}).status_code == 400  # CSRF-protected
    assert is_signed_in(phone)
    response = laptop.post("/portal/logout/everywhere", data={"csrf_token": csrf_token(text)})
    assert response.status_code == 302
    assert "2 sessions ended" in laptop.get("/portal/login").get_data(as_text=True)
    assert not is_signed_in(phone) and not is_signed_in(laptop)
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        last = uow.session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert last is not None and last.action == "portal.sign_out.everywhere"


def test_a_saved_pending_sign_in_cookie_does_not_open_the_portal(
    client: FlaskClient, make: Factories, clock: FrozenClock
) -> None:
    tenant = make.tenants()
    post_form(client, "/portal/login", {"email": tenant.owner_email, "password": PASSWORD})
    assert not is_signed_in(client)  # the password alone opens nothing
