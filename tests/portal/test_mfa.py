"""Two-step verification in the portal: enrollment with a QR code and ten recovery codes, signing in with a
recovery code (once), and the account page (password, new authenticator, new codes, sessions)."""

from __future__ import annotations

import re

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from core.audit.models import AuditEvent
from core.clock import FrozenClock
from core.jobs.runtime import Runtime
from tenants import recovery_codes
from tenants.models import RecoveryCode, User
from tests.factories import PASSWORD, MadeTenant
from tests.fixtures import Factories
from tests.portal.test_sign_in import csrf_token, post_form, sign_in

NEW_PASSWORD = "a brand new passphrase 42"


def new_member(clean: Runtime, tenant: MadeTenant, email: str = "new@example.com") -> None:
    from core.context import Actor
    from tenants.service import create_user

    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        create_user(
            uow.session,
            clean.context(uow, Actor.system("test")),
            tenant_id=tenant.id,
            email=email,
            role="developer",
            password=PASSWORD,
            totp_secret=None,
        )


def enroll(client: FlaskClient, email: str = "new@example.com") -> tuple[str, list[str]]:
    """First sign-in of a user without TOTP: the setup key and the ten recovery codes it shows."""
    response = post_form(client, "/portal/login", {"email": email, "password": PASSWORD})
    assert response.location.endswith("/portal/login/enroll")
    page = client.get("/portal/login/enroll").get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page)
    assert secret
    shown = client.post(
        "/portal/login/enroll",
        data={"code": pyotp.TOTP(secret.group(1)).now(), "csrf_token": csrf_token(page)},
    )
    codes = re.findall(r"<li><code>([0-9a-z]{5}-[0-9a-z]{5})</code></li>", shown.get_data(as_text=True))
    return secret.group(1), codes


def sign_in_now(client: FlaskClient, tenant: MadeTenant, clock: FrozenClock) -> None:
    """Sign in at the frozen clock's time, then move it past the code's 30-second step: each code signs
    in once, so a second browser needs the next one."""
    response = post_form(client, "/portal/login", {"email": tenant.owner_email, "password": PASSWORD})
    assert response.location.endswith("/portal/login/code")
    response = post_form(
        client, "/portal/login/code", {"code": pyotp.TOTP(tenant.totp_secret).at(clock.now())}
    )
    assert response.status_code == 302 and response.location.endswith("/portal/")
    clock.advance(seconds=30)


def sign_out(client: FlaskClient) -> None:
    home = client.get("/portal/account").get_data(as_text=True)
    client.post("/portal/logout", data={"csrf_token": csrf_token(home)})


def actions_of(clean: Runtime, tenant: MadeTenant) -> list[str]:
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        return list(uow.session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def test_the_enrollment_page_shows_a_server_made_qr_code_and_the_key_as_text(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    new_member(clean, tenant)
    post_form(client, "/portal/login", {"email": "new@example.com", "password": PASSWORD})
    response = client.get("/portal/login/enroll")
    page = response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page)
    assert secret
    # An inline SVG (no image service, no script): the QR of the otpauth URI with that key.
    assert re.search(r'<svg [^>]*class="qr"', page) and "<path" in page
    assert f"secret={secret.group(1)}" in page
    assert "<script" not in page.split("</head>")[1]


def test_enrollment_stores_only_keyed_hashes_of_ten_codes(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    new_member(clean, tenant)
    _secret, codes = enroll(client)
    assert len(set(codes)) == 10
    with clean.db.unit_of_work() as uow:
        user_id = uow.session.scalar(select(User.id).where(User.email == "new@example.com"))
        stored = list(
            uow.session.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user_id))
        )
    assert len(stored) == 10
    for code in codes:
        assert code not in stored and code.replace("-", "") not in " ".join(stored)
    actions = actions_of(clean, tenant)
    assert {"user.totp.enrolled", "user.recovery_codes.generated", "portal.sign_in"} <= set(actions)


def test_a_recovery_code_signs_in_once(client: FlaskClient, make: Factories, clean: Runtime) -> None:
    tenant = make.tenants()
    new_member(clean, tenant)
    _secret, codes = enroll(client)
    sign_out(client)

    post_form(client, "/portal/login", {"email": "new@example.com", "password": PASSWORD})
    used = post_form(client, "/portal/login/recovery", {"code": codes[3].upper()})  # typed in capitals
    assert used.status_code == 302 and used.location.endswith("/portal/")
    assert "9 of 10 left" in client.get("/portal/").get_data(as_text=True)
    sign_out(client)

    post_form(client, "/portal/login", {"email": "new@example.com", "password": PASSWORD})
    again = post_form(client, "/portal/login/recovery", {"code": codes[3]})
    assert again.status_code == 200
    assert "That recovery code is not valid or was already used." in again.get_data(as_text=True)
    assert client.get("/portal/").status_code == 302
    actions = actions_of(clean, tenant)
    assert actions.count("user.recovery_code.used") == 1 and actions[-1] == "portal.sign_in.failed"


def test_wrong_recovery_codes_count_like_wrong_authentication_codes(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    post_form(client, "/portal/login", {"email": tenant.owner_email, "password": PASSWORD})
    for _ in range(4):
        response = post_form(client, "/portal/login/recovery", {"code": "aaaaa-aaaaa"})
        assert response.status_code == 200
    response = post_form(client, "/portal/login/recovery", {"code": "aaaaa-aaaaa"})
    assert response.status_code == 302 and response.location.endswith("/portal/login")


def test_a_code_is_accepted_once_and_typed_loosely(make: Factories, clean: Runtime) -> None:
    tenant = make.tenants()
    with clean.db.unit_of_work() as uow:
        codes = recovery_codes.generate(
            uow.session, user_id=tenant.owner.id, kms=clean.kms, clock=clean.clock
        )
    loosely = " " + codes[0].upper().replace("-", " ") + " "
    with clean.db.unit_of_work() as uow:
        assert recovery_codes.use(
            uow.session, user_id=tenant.owner.id, code=loosely, kms=clean.kms, clock=clean.clock
        )
    with clean.db.unit_of_work() as uow:
        assert not recovery_codes.use(
            uow.session, user_id=tenant.owner.id, code=codes[0], kms=clean.kms, clock=clean.clock
        )
        assert not recovery_codes.use(
            uow.session, user_id="usr_someone_else", code=codes[1], kms=clean.kms, clock=clean.clock
        )
        assert recovery_codes.remaining(uow.session, user_id=tenant.owner.id) == 9


def test_regenerated_codes_replace_the_old_ones(client: FlaskClient, make: Factories, clean: Runtime) -> None:
    tenant = make.tenants()
    new_member(clean, tenant)
    _secret, old = enroll(client)
    page = client.get("/portal/account").get_data(as_text=True)
    refused = client.post(
        "/portal/account/recovery-codes",
        data={"rc-current": "wrong password here", "rc-csrf_token": csrf_token(page)},
    )
    assert refused.status_code == 400 and "Your current password is not correct." in refused.get_data(
        as_text=True
    )
    page = client.get("/portal/account").get_data(as_text=True)
    fresh = client.post(
        "/portal/account/recovery-codes", data={"rc-current": PASSWORD, "rc-csrf_token": csrf_token(page)}
    )
    assert fresh.status_code == 200 and fresh.headers["Cache-Control"] == "no-store"
    new = re.findall(r"<li><code>([0-9a-z]{5}-[0-9a-z]{5})</code></li>", fresh.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(old)
    sign_out(client)
    post_form(client, "/portal/login", {"email": "new@example.com", "password": PASSWORD})
    assert post_form(client, "/portal/login/recovery", {"code": old[0]}).status_code == 200
    assert post_form(client, "/portal/login/recovery", {"code": new[0]}).status_code == 302


def test_changing_the_password_needs_the_current_one_and_signs_out_other_sessions(
    app: Flask, make: Factories, clean: Runtime, clock: FrozenClock
) -> None:
    tenant = make.tenants()
    here, elsewhere = app.test_client(), app.test_client()
    sign_in_now(here, tenant, clock)
    sign_in_now(elsewhere, tenant, clock)
    page = here.get("/portal/account").get_data(as_text=True)
    wrong = here.post(
        "/portal/account/password",
        data={
            "pw-current": "not my password",
            "pw-password": NEW_PASSWORD,
            "pw-confirm": NEW_PASSWORD,
            "pw-csrf_token": csrf_token(page),
        },
    )
    assert wrong.status_code == 400 and "Your current password is not correct." in wrong.get_data(
        as_text=True
    )
    mismatch = here.post(
        "/portal/account/password",
        data={
            "pw-current": PASSWORD,
            "pw-password": NEW_PASSWORD,
            "pw-confirm": "something else entirely",
            "pw-csrf_token": csrf_token(page),
        },
    )
    assert mismatch.status_code == 400 and "The passwords differ." in mismatch.get_data(as_text=True)
    changed = here.post(
        "/portal/account/password",
        data={
            "pw-current": PASSWORD,
            "pw-password": NEW_PASSWORD,
            "pw-confirm": NEW_PASSWORD,
            "pw-csrf_token": csrf_token(page),
        },
    )
    assert changed.status_code == 303
    assert "1 other session signed out" in here.get("/portal/account").get_data(as_text=True)
    assert here.get("/portal/").status_code == 200  # this browser stays signed in
    assert elsewhere.get("/portal/").status_code == 302  # the other one is out
    sign_out(here)
    response = post_form(here, "/portal/login", {"email": tenant.owner_email, "password": NEW_PASSWORD})
    assert response.location.endswith("/portal/login/code")
    assert "user.password.changed" in actions_of(clean, tenant)


def test_switching_authenticator_app_needs_the_password_and_a_code_of_the_new_key(
    app: Flask, make: Factories, clean: Runtime, clock: FrozenClock
) -> None:
    tenant = make.tenants()
    here, elsewhere = app.test_client(), app.test_client()
    sign_in_now(here, tenant, clock)
    sign_in_now(elsewhere, tenant, clock)
    page = here.get("/portal/account/totp").get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page)
    assert secret and re.search(r'<svg [^>]*class="qr"', page)
    old_code = pyotp.TOTP(tenant.totp_secret).at(clock.now())
    refused = here.post(
        "/portal/account/totp", data={"current": PASSWORD, "code": old_code, "csrf_token": csrf_token(page)}
    )
    assert refused.status_code == 400 and "not valid" in refused.get_data(as_text=True)
    switched = here.post(
        "/portal/account/totp",
        data={
            "current": PASSWORD,
            "code": pyotp.TOTP(secret.group(1)).at(clock.now()),
            "csrf_token": csrf_token(page),
        },
    )
    assert switched.status_code == 200 and "Your new recovery codes" in switched.get_data(as_text=True)
    assert here.get("/portal/").status_code == 200
    assert elsewhere.get("/portal/").status_code == 302
    sign_out(here)
    clock.advance(seconds=31)
    post_form(here, "/portal/login", {"email": tenant.owner_email, "password": PASSWORD})
    old = post_form(here, "/portal/login/code", {"code": pyotp.TOTP(tenant.totp_secret).at(clock.now())})
    assert old.status_code == 200
    new = post_form(here, "/portal/login/code", {"code": pyotp.TOTP(secret.group(1)).at(clock.now())})
    assert new.status_code == 302 and new.location.endswith("/portal/")


def test_one_session_can_be_signed_out_from_the_list(
    app: Flask, make: Factories, clean: Runtime, clock: FrozenClock
) -> None:
    tenant = make.tenants()
    here, elsewhere = app.test_client(), app.test_client()
    sign_in_now(here, tenant, clock)
    sign_in_now(elsewhere, tenant, clock)
    page = here.get("/portal/account").get_data(as_text=True)
    ids = re.findall(r"/portal/account/sessions/([0-9a-f]{64})/revoke", page)
    assert len(ids) == 2 and "This session" in page
    this = re.search(r"This session.*?/portal/account/sessions/([0-9a-f]{64})/revoke", page, re.S)
    assert this
    other = next(i for i in ids if i != this.group(1))
    response = here.post(f"/portal/account/sessions/{other}/revoke", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 303
    assert elsewhere.get("/portal/").status_code == 302
    assert here.get("/portal/").status_code == 200
    assert "portal.session.revoked" in actions_of(clean, tenant)


def test_someone_elses_session_id_ends_nothing(app: Flask, make: Factories, clock: FrozenClock) -> None:
    a, b = make.tenants(), make.tenants()
    client_a, client_b = app.test_client(), app.test_client()
    sign_in_now(client_a, a, clock)
    sign_in_now(client_b, b, clock)
    page_b = client_b.get("/portal/account").get_data(as_text=True)
    [b_session] = re.findall(r"/portal/account/sessions/([0-9a-f]{64})/revoke", page_b)
    page_a = client_a.get("/portal/account").get_data(as_text=True)
    response = client_a.post(
        f"/portal/account/sessions/{b_session}/revoke", data={"csrf_token": csrf_token(page_a)}
    )
    assert response.status_code == 404  # as for an id that is no session at all
    assert client_b.get("/portal/").status_code == 200


@pytest.mark.parametrize(
    ("url", "data"),
    [
        ("/portal/login/recovery", {"code": "aaaaa-aaaaa"}),
        ("/portal/login/enroll", {"code": "123456"}),
        ("/portal/forgot-password", {"email": "someone@example.com"}),
        (
            "/portal/account/password",
            {"pw-current": PASSWORD, "pw-password": NEW_PASSWORD, "pw-confirm": NEW_PASSWORD},
        ),
        ("/portal/account/recovery-codes", {"rc-current": PASSWORD}),
        ("/portal/account/totp", {"current": PASSWORD, "code": "123456"}),
        ("/portal/audit/verify", {}),
    ],
)
def test_every_form_refuses_a_missing_csrf_token(
    client: FlaskClient, make: Factories, url: str, data: dict[str, str]
) -> None:
    tenant = make.tenants()
    if url.startswith("/portal/login/"):
        post_form(client, "/portal/login", {"email": tenant.owner_email, "password": PASSWORD})
    elif url != "/portal/forgot-password":
        sign_in(client, tenant)
    response = client.post(url, data=data)
    assert response.status_code == 400 and "CSRF" in response.get_data(as_text=True)


def test_session_revoke_refuses_a_missing_csrf_token(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    page = client.get("/portal/account").get_data(as_text=True)
    [own] = re.findall(r"/portal/account/sessions/([0-9a-f]{64})/revoke", page)
    response = client.post(f"/portal/account/sessions/{own}/revoke", data={})
    assert response.status_code == 400
    assert client.get("/portal/").status_code == 200
