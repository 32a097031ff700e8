""" "Forgot password": the same answer for any email, a single-use 30-minute link emailed through the outbox
to a real SMTP server, and a reset that signs every session out."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from core.audit.models import AuditEvent
from core.clock import FrozenClock
from core.jobs.runtime import Runtime
from tenants.models import PasswordReset
from tests.factories import PASSWORD, MadeTenant
from tests.fixtures import Factories
from tests.payments_helpers import work
from tests.portal.test_sign_in import csrf_token, post_form
from tests.smtp_server import SmtpServer

NEW_PASSWORD = "a brand new passphrase 42"
LINK = re.compile(r"http://127\.0\.0\.1/portal/reset/([A-Za-z0-9_-]{43})")


def ask_for_reset(client: FlaskClient, email: str) -> str:
    response = post_form(client, "/portal/forgot-password", {"email": email})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def emailed_link(clean: Runtime, smtp: SmtpServer, count: int = 1) -> str:
    work(clean)
    deliveries = smtp.inbox.wait_for(count, timeout=10)
    assert len(deliveries) == count
    match = LINK.search(deliveries[-1].text("plain"))
    assert match, deliveries[-1].text("plain")
    return f"/portal/reset/{match.group(1)}"


def set_password(client: FlaskClient, link: str, password: str = NEW_PASSWORD):  # type: ignore[no-untyped-def]
    page = client.get(link)
    assert page.status_code == 200, page.get_data(as_text=True)
    return client.post(
        link,
        data={
            "password": password,
            "confirm": password,
            "csrf_token": csrf_token(page.get_data(as_text=True)),
        },
    )


def test_the_answer_is_the_same_whether_or_not_the_email_has_an_account(
    client: FlaskClient, make: Factories, clean: Runtime, mail_to_smtp: SmtpServer
) -> None:
    tenant = make.tenants()
    known = ask_for_reset(client, tenant.owner_email)
    unknown = ask_for_reset(client, "nobody@example.com")
    strip = lambda html: re.sub(r'(value|nonce)="[^"]+"', "", html)  # noqa: E731  (tokens and nonces differ)
    assert strip(known) == strip(unknown)
    assert "If an account exists for that address" in known
    work(clean)
    deliveries = mail_to_smtp.inbox.wait_for(1, timeout=10)
    assert [d.recipients for d in deliveries] == [[tenant.owner_email]]


def test_the_emailed_link_resets_the_password_once_and_signs_every_session_out(
    app: Flask, make: Factories, clean: Runtime, mail_to_smtp: SmtpServer, clock: FrozenClock
) -> None:
    from tests.portal.test_mfa import sign_in_now

    tenant = make.tenants()
    first, second, resetter = app.test_client(), app.test_client(), app.test_client()
    sign_in_now(first, tenant, clock)
    sign_in_now(second, tenant, clock)
    ask_for_reset(resetter, tenant.owner_email)
    link = emailed_link(clean, mail_to_smtp)
    with clean.db.unit_of_work() as uow:
        stored = uow.session.scalar(select(PasswordReset))
    assert stored is not None and link.rsplit("/", 1)[1] not in (stored.token_hash, stored.id)

    done = set_password(resetter, link)
    assert done.status_code == 303 and done.location.endswith("/portal/login")
    assert first.get("/portal/").status_code == 302 and second.get("/portal/").status_code == 302

    again = resetter.get(link)
    assert again.status_code == 400 and "expired or was already used" in again.get_data(as_text=True)
    old = post_form(resetter, "/portal/login", {"email": tenant.owner_email, "password": PASSWORD})
    assert "Email or password is incorrect." in old.get_data(as_text=True)
    new = post_form(resetter, "/portal/login", {"email": tenant.owner_email, "password": NEW_PASSWORD})
    assert new.location.endswith("/portal/login/code")  # two-step verification still asked for
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        actions = list(uow.session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))
    assert "user.password_reset.requested" in actions and "user.password_reset.completed" in actions


def test_a_link_expires_after_30_minutes(
    client: FlaskClient, make: Factories, clean: Runtime, mail_to_smtp: SmtpServer, clock: FrozenClock
) -> None:
    tenant = make.tenants()
    ask_for_reset(client, tenant.owner_email)
    link = emailed_link(clean, mail_to_smtp)
    clock.advance(minutes=31)
    response = client.get(link)
    assert response.status_code == 400 and "expired or was already used" in response.get_data(as_text=True)


def test_a_newer_reset_voids_nothing_but_a_used_one_voids_the_others(
    client: FlaskClient, make: Factories, clean: Runtime, mail_to_smtp: SmtpServer
) -> None:
    tenant = make.tenants()
    ask_for_reset(client, tenant.owner_email)
    first = emailed_link(clean, mail_to_smtp, 1)
    ask_for_reset(client, tenant.owner_email)
    second = emailed_link(clean, mail_to_smtp, 2)
    assert first != second
    assert set_password(client, second).status_code == 303
    assert client.get(first).status_code == 400


def test_a_tampered_or_unknown_token_is_refused(client: FlaskClient, make: Factories) -> None:
    for token in ("x" * 43, "short", "a" * 200):
        response = client.get(f"/portal/reset/{token}")
        assert response.status_code == 400


def test_a_too_short_password_is_a_form_error_and_the_link_still_works(
    client: FlaskClient, make: Factories, clean: Runtime, mail_to_smtp: SmtpServer
) -> None:
    tenant: MadeTenant = make.tenants()
    ask_for_reset(client, tenant.owner_email)
    link = emailed_link(clean, mail_to_smtp)
    short = set_password(client, link, "short")
    assert short.status_code == 200 and "Use 12 to 1024 characters." in short.get_data(as_text=True)
    assert set_password(client, link).status_code == 303


def test_requests_are_limited_per_address_without_telling(
    client: FlaskClient, make: Factories, clean: Runtime, mail_to_smtp: SmtpServer
) -> None:
    tenant = make.tenants()
    for _ in range(7):
        assert "If an account exists" in ask_for_reset(client, tenant.owner_email)
    work(clean)
    assert len(mail_to_smtp.inbox.wait_for(5, timeout=10)) == 5
