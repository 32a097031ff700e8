from __future__ import annotations

import re

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from core.audit.models import AuditEvent
from core.jobs.runtime import Runtime
from tests.factories import PASSWORD, MadeTenant
from tests.fixtures import Factories


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, "the form carries a CSRF token"
    return match.group(1)


def post_form(client: FlaskClient, url: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
    page = client.get(url)
    return client.post(url, data={**data, "csrf_token": csrf_token(page.get_data(as_text=True))})


def sign_in(client: FlaskClient, tenant: MadeTenant) -> None:
    response = post_form(client, "/portal/login", {"email": tenant.owner_email, "password": PASSWORD})
    assert response.status_code == 302 and response.location.endswith("/portal/login/code")
    response = post_form(client, "/portal/login/code", {"code": tenant.code()})
    assert response.status_code == 302 and response.location.endswith("/portal/")


def test_sign_in_with_password_then_authentication_code(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants(name="Acme Coffee")
    page = client.get("/portal/login").get_data(as_text=True)
    assert 'for="email">Email<' in page and 'for="password">Password<' in page
    sign_in(client, tenant)
    home = client.get("/portal/").get_data(as_text=True)
    assert "Acme Coffee" in home and tenant.keys.publishable_key in home
    assert tenant.keys.secret_key not in home
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        actions = uow.session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
    assert actions[-1] == "portal.sign_in"


def test_the_code_page_names_its_field(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    post_form(client, "/portal/login", {"email": tenant.owner_email, "password": PASSWORD})
    page = client.get("/portal/login/code").get_data(as_text=True)
    assert ">Authentication code<" in page


def test_a_wrong_password_says_so_and_signs_nobody_in(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    response = post_form(
        client, "/portal/login", {"email": tenant.owner_email, "password": "not the password"}
    )
    assert response.status_code == 200
    assert "Email or password is incorrect." in response.get_data(as_text=True)
    assert client.get("/portal/").status_code == 302


def test_empty_fields_get_form_messages(client: FlaskClient, make: Factories) -> None:
    response = post_form(client, "/portal/login", {"email": "", "password": ""})
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and "Enter your email." in text and "Enter your password." in text


def test_a_wrong_code_is_refused_and_five_restart_sign_in(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    post_form(client, "/portal/login", {"email": tenant.owner_email, "password": PASSWORD})
    wrong = "000000" if tenant.code() != "000000" else "111111"
    for _ in range(4):
        response = post_form(client, "/portal/login/code", {"code": wrong})
        assert response.status_code == 200 and "That code is not valid" in response.get_data(as_text=True)
    response = post_form(client, "/portal/login/code", {"code": wrong})
    assert response.status_code == 302 and response.location.endswith("/portal/login")
    assert client.get("/portal/login/code").status_code == 302


def test_a_form_without_its_csrf_token_is_refused(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    response = client.post("/portal/login", data={"email": tenant.owner_email, "password": PASSWORD})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)


def test_repeated_wrong_passwords_lock_the_account(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    for _ in range(10):
        post_form(client, "/portal/login", {"email": tenant.owner_email, "password": "wrong password"})
    response = post_form(client, "/portal/login", {"email": tenant.owner_email, "password": PASSWORD})
    assert response.status_code == 403 and "This account is locked for 30 minutes" in response.get_data(
        as_text=True
    )


def test_a_user_without_totp_enrolls_at_first_sign_in(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    from core.context import Actor
    from tenants.service import create_user

    tenant = make.tenants()
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        create_user(
            uow.session,
            clean.context(uow, Actor.system("test")),
            tenant_id=tenant.id,
            email="new@example.com",
            role="developer",
            password=PASSWORD,
            totp_secret=None,
        )
    response = post_form(client, "/portal/login", {"email": "new@example.com", "password": PASSWORD})
    assert response.location.endswith("/portal/login/enroll")
    page = client.get("/portal/login/enroll").get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page)
    assert secret
    response = client.post(
        "/portal/login/enroll",
        data={"code": pyotp.TOTP(secret.group(1)).now(), "csrf_token": csrf_token(page)},
    )
    assert response.location.endswith("/portal/")
    assert client.get("/portal/").status_code == 200


def test_sign_out(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    home = client.get("/portal/").get_data(as_text=True)
    response = client.post("/portal/logout", data={"csrf_token": csrf_token(home)})
    assert response.status_code == 302
    assert client.get("/portal/").status_code == 302


def test_failed_sign_ins_of_a_known_user_are_audited(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    post_form(client, "/portal/login", {"email": tenant.owner_email, "password": "not the password"})
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        last = uow.session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert last is not None and last.action == "portal.sign_in.failed" and last.outcome == "failure"


def test_a_replayed_session_cookie_does_not_reset_the_code_attempts(
    client: FlaskClient, make: Factories
) -> None:
    tenant = make.tenants()
    post_form(client, "/portal/login", {"email": tenant.owner_email, "password": PASSWORD})
    cookie = client.get_cookie("kassa_session")
    assert cookie is not None
    wrong = "000000" if tenant.code() != "000000" else "111111"
    for _ in range(5):
        client.set_cookie("kassa_session", cookie.value)  # the cookie from before any wrong code
        post_form(client, "/portal/login/code", {"code": wrong})
    client.set_cookie("kassa_session", cookie.value)
    assert client.get("/portal/login/code").status_code == 302


def test_a_user_the_cli_created_on_a_test_domain_signs_in(
    app: Flask, client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    secret = pyotp.random_base32()
    created = app.test_cli_runner().invoke(
        args=[
            *("users", "create", "--tenant", tenant.id, "--email", "Owner@Shop.test", "--role", "admin"),
            *("--password", PASSWORD, "--totp-secret", secret),
        ]
    )
    assert created.exit_code == 0, created.output
    response = post_form(client, "/portal/login", {"email": "owner@shop.test", "password": PASSWORD})
    assert response.status_code == 302 and response.location.endswith("/portal/login/code")
    response = post_form(client, "/portal/login/code", {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302 and response.location.endswith("/portal/")


@pytest.mark.parametrize("address", ["owner", "owner@shop", "owner@@shop.test", "own er@shop.test"])
def test_the_sign_in_form_refuses_what_the_cli_refuses(
    app: Flask, client: FlaskClient, make: Factories, address: str
) -> None:
    tenant = make.tenants()
    cli = app.test_cli_runner().invoke(
        args=[
            *("users", "create", "--tenant", tenant.id, "--email", address, "--role", "admin"),
            *("--password", PASSWORD),
        ]
    )
    assert cli.exit_code == 1 and "is not an email address" in cli.output
    response = post_form(client, "/portal/login", {"email": address, "password": PASSWORD})
    assert response.status_code == 200
    assert "Enter a valid email address, like name@example.com." in response.get_data(as_text=True)
