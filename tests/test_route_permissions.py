"""Permissions as data: every portal and API route declares its access, and the dispatchers enforce it.

The walk fails for a route without a declaration; an analyst (a portal member, or an API key holding an
analyst's permissions) who forges a refund POST gets 403 and no money moves.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from core.audit import actions
from core.audit.models import AuditEvent
from core.context import Actor
from core.jobs.runtime import Runtime
from core.payments.models import Payment, Refund
from core.web.access import OWNER, PUBLIC, SIGNED_IN, undeclared
from portal.api.blueprint import ROUTES as API_ROUTES
from portal.views.blueprint import ROUTES as PORTAL_ROUTES
from tenants import api_keys
from tenants.models import KeyMode, Role
from tenants.permissions import ALL, ROLE_PERMISSIONS, Permission
from tenants.service import create_user
from tests.factories import PASSWORD, MadeTenant
from tests.fixtures import Factories
from tests.payments_helpers import auth, confirm, create_session, work_until_settled
from tests.portal.test_sign_in import csrf_token, post_form

SOME_ID = "pay_01jd8x3m4n5p6q7r8s9t0v1w2x"


def add_member(rt: Runtime, tenant: MadeTenant, role: Role) -> tuple[str, str]:
    """A member of `tenant` with `role`: (email, TOTP seed)."""
    email = f"{role}-{tenant.tenant.slug}@example.com"
    secret = pyotp.random_base32(32)
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        create_user(
            uow.session,
            rt.context(uow, Actor.system("test")),
            tenant_id=tenant.id,
            email=email,
            role=role,
            password=PASSWORD,
            totp_secret=secret,
        )
    return email, secret


def sign_in_as(client: FlaskClient, email: str, secret: str) -> None:
    response = post_form(client, "/portal/login", {"email": email, "password": PASSWORD})
    assert response.status_code == 302 and response.location.endswith("/portal/login/code")
    response = post_form(client, "/portal/login/code", {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302 and response.location.endswith("/portal/")


def restricted_key(rt: Runtime, tenant: MadeTenant, held: frozenset[Permission]) -> str:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        _record, key = api_keys.create_restricted(
            uow.session,
            rt.context(uow, Actor.system("test")),
            tenant_id=tenant.id,
            mode=KeyMode.TEST,
            permissions=held,
        )
    return key


def paid(client: FlaskClient, rt: Runtime, tenant: MadeTenant, amount: int = 2500) -> str:
    payment_id = confirm(rt, tenant, create_session(client, tenant, amount=amount)["id"])
    assert work_until_settled(rt, tenant, payment_id).status == "succeeded"
    return payment_id


def refunds_of(rt: Runtime, tenant: MadeTenant, payment_id: str) -> list[Refund]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        return list(uow.session.scalars(select(Refund).where(Refund.payment_id == payment_id)))


def cli(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=list(args))


# --- the declarations -----------------------------------------------------------------------------------


def test_every_route_of_the_app_declares_its_access(app: Flask) -> None:
    assert undeclared(app) == []
    for route in API_ROUTES:
        assert route.public or route.permission in set(Permission), route.operation
    for entry in PORTAL_ROUTES:
        assert entry.access in {PUBLIC, SIGNED_IN, OWNER, *Permission}, entry.endpoint
    # Public is said, never assumed: only what a stranger must reach is public.
    assert {r.operation for r in API_ROUTES if r.public} == {"openapi"}
    assert {e.endpoint for e in PORTAL_ROUTES if e.access == PUBLIC} == {
        "login",
        "login_code",
        "login_recovery",
        "enroll",
        "logout",
        # Single sign-on: choosing the account, the trip to its provider and back (portal/views/sso.py).
        "sso_choose",
        "sso_start",
        "sso_callback",
        "forgot_password",
        "reset_password",
        "accept_invitation",  # the emailed link's token is the credential (tenants/team.py)
        "report_download",  # a scheduled export's signed link is the credential (core/reports/schedules.py)
    }


def test_a_route_without_a_declared_permission_fails_the_walk_and_is_refused(
    rt: Runtime, client: FlaskClient, make: Factories
) -> None:
    from flask import Blueprint, jsonify

    from portal.api.auth import authenticate
    from portal.api.routing import Route, register
    from wsgi import create_app

    fresh = create_app(rt.settings, runtime=rt)
    fresh.add_url_rule("/portal/forgotten", "forgotten", lambda: "no declaration")
    extra = Blueprint("api_extra", __name__, url_prefix="/api/v9")
    extra.before_request(authenticate)
    register(extra, [Route("GET", "/things", "listThings", lambda: jsonify({}), "Things")])
    fresh.register_blueprint(extra)
    assert undeclared(fresh) == ["api_extra.listThings", "forgotten"]

    tenant = make.tenants()  # a full secret key holds every permission, yet an undeclared route is refused
    response = fresh.test_client().get("/api/v9/things", headers=auth(tenant.keys.secret_key))
    assert response.status_code == 403 and response.json["error"]["code"] == "permission_denied"


def test_roles_are_sets_of_the_catalogue() -> None:
    assert set(ROLE_PERMISSIONS) == set(Role) and len(Role) == 6
    # The twelve of ARCHITECTURE.md and the two operator permissions (operations:read, operations:manage).
    assert ROLE_PERMISSIONS[Role.OWNER] == ALL and len(ALL) == 14
    assert ROLE_PERMISSIONS[Role.ANALYST] == {
        Permission.PAYMENTS_READ,
        Permission.REPORTS_READ,
        Permission.PAYOUTS_READ,
    }
    assert Permission.PAYMENTS_REFUND in ROLE_PERMISSIONS[Role.SUPPORT]
    assert ROLE_PERMISSIONS[Role.VIEWER] == {Permission.PAYMENTS_READ}


def test_the_openapi_document_names_each_operations_permission(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").json
    operations = [op for path in document["paths"].values() for op in path.values()]
    assert len(operations) == len(API_ROUTES) - 1
    for operation in operations:
        assert operation["x-kassa-permission"] in set(Permission)
        assert "403" in operation["responses"]


# --- the walks ------------------------------------------------------------------------------------------


def _portal_request(client: FlaskClient, method: str, url: str) -> int:
    if method == "GET":
        return client.get(url).status_code
    token = csrf_token(client.get("/portal/account").get_data(as_text=True))
    # An amount no form accepts: a role that may refund is sent back to the page, nothing is refunded.
    return client.post(url, data={"csrf_token": token, "amount": "not money"}).status_code


@pytest.mark.parametrize("role", list(Role))
def test_walk_every_portal_route_as_each_role(
    app: Flask, client: FlaskClient, make: Factories, clean: Runtime, role: Role
) -> None:
    tenant = make.tenants()
    payment_id = paid(client, clean, tenant)
    sign_in_as(client, *add_member(clean, tenant, role))
    held = ROLE_PERMISSIONS[role]
    walked = 0
    for entry in PORTAL_ROUTES:
        if entry.access in (PUBLIC, SIGNED_IN):
            continue
        url = "/portal" + entry.rule.replace("<payment_id>", payment_id)
        url = url.replace("<refund_id>", "re_" + SOME_ID[4:]).replace("<session_id>", "cs_" + SOME_ID[4:])
        for method in entry.methods:
            status = _portal_request(client, method, url)
            allowed = role is Role.OWNER if entry.access == OWNER else Permission(entry.access) in held
            assert (status == 403) is not allowed, f"{role}: {method} {url} -> {status}"
            walked += 1
    assert walked >= 3
    assert refunds_of(clean, tenant, payment_id) == []
    # Signed-in pages stay open to every member: their own account, the home page.
    assert client.get("/portal/account").status_code == 200
    assert client.get("/portal/").status_code == 200


def _path(route_path: str) -> str:
    return re.sub(r"\{[a-z_]+\}", SOME_ID, route_path)


@pytest.mark.parametrize("role", list(Role))
def test_walk_every_api_route_with_a_key_holding_a_roles_permissions(
    client: FlaskClient, make: Factories, clean: Runtime, role: Role
) -> None:
    tenant = make.tenants()
    held = ROLE_PERMISSIONS[role]
    key = restricted_key(clean, tenant, held)
    for route in API_ROUTES:
        if route.public:
            continue
        kwargs: dict[str, Any] = {"headers": auth(key)}
        if route.method in ("POST", "PATCH"):
            kwargs["json"] = {}
        response = client.open(f"/api/v1{_path(route.path)}", method=route.method, **kwargs)
        allowed = route.permission in held
        assert (response.status_code == 403) is not allowed, f"{role}: {route.operation} -> {response.json}"
        assert response.status_code < 500


# --- the acceptance: an analyst's forged refund ---------------------------------------------------------


def test_an_analysts_forged_portal_refund_is_403_and_moves_nothing(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    payment_id = paid(client, clean, tenant)
    sign_in_as(client, *add_member(clean, tenant, Role.ANALYST))
    detail = client.get(f"/portal/payments/{payment_id}").get_data(as_text=True)
    assert f"/{payment_id}/refund" not in detail  # no refund button for a role that cannot refund
    token = csrf_token(detail)  # a real token: the refusal is the permission, not CSRF
    forged = client.post(f"/portal/payments/{payment_id}/refund", data={"csrf_token": token, "amount": ""})
    assert forged.status_code == 403
    assert "Not allowed" in forged.get_data(as_text=True)
    assert refunds_of(clean, tenant, payment_id) == []
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        refunded = uow.session.scalar(select(Payment.amount_refunded).where(Payment.id == payment_id))
    assert refunded == 0


def test_support_refunds_from_the_payment_page_and_it_is_audited(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant, other = make.tenants(), make.tenants()
    payment_id = paid(client, clean, tenant, amount=2500)
    others = paid(client, clean, other)
    email, secret = add_member(clean, tenant, Role.SUPPORT)
    sign_in_as(client, email, secret)
    detail = client.get(f"/portal/payments/{payment_id}").get_data(as_text=True)
    assert f"/portal/payments/{payment_id}/refund" in detail
    token = csrf_token(detail)

    asked = client.post(f"/portal/payments/{payment_id}/refund", data={"csrf_token": token, "amount": "5.00"})
    assert asked.status_code == 200 and "Refund €5.00?" in asked.get_data(as_text=True)
    assert refunds_of(clean, tenant, payment_id) == []  # the first step only asks to confirm
    done = client.post(
        f"/portal/payments/{payment_id}/refund",
        data={"csrf_token": token, "amount": "5.00", "confirmed": "yes"},
    )
    assert done.status_code == 303 and done.location.endswith(f"/portal/payments/{payment_id}")
    page = client.get(f"/portal/payments/{payment_id}").get_data(as_text=True)
    assert "Refunded €5.00" in page
    [made] = refunds_of(clean, tenant, payment_id)
    assert made.amount == 500
    too_much = client.post(
        f"/portal/payments/{payment_id}/refund", data={"csrf_token": token, "amount": "99.00"}
    )
    assert too_much.status_code == 303
    assert "exceeds" in client.get(f"/portal/payments/{payment_id}").get_data(as_text=True)
    assert len(refunds_of(clean, tenant, payment_id)) == 1
    # Another tenant's payment stays not found, whatever the role.
    assert client.post(f"/portal/payments/{others}/refund", data={"csrf_token": token}).status_code == 404
    assert refunds_of(clean, other, others) == []
    without_csrf = client.post(f"/portal/payments/{payment_id}/refund", data={"amount": "1.00"})
    assert without_csrf.status_code == 400 and len(refunds_of(clean, tenant, payment_id)) == 1
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        user_id = uow.session.scalar(select(AuditEvent.actor_id).where(AuditEvent.action == "portal.sign_in"))
        recorded = uow.session.scalars(
            select(AuditEvent.actor_id).where(AuditEvent.action == actions.REFUND_CREATED)
        ).all()
    assert recorded == [user_id]


def test_an_analysts_restricted_key_from_the_cli_cannot_refund(
    app: Flask, client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant, other = make.tenants(), make.tenants()
    payment_id = paid(client, clean, tenant)
    others = paid(client, clean, other)
    analyst = [f"--permission={p}" for p in sorted(ROLE_PERMISSIONS[Role.ANALYST])]
    made = cli(app, "keys", "create", "--tenant", tenant.tenant.slug, *analyst)
    assert made.exit_code == 0, made.output
    key = re.search(r"(sk_test_\S+)", made.output).group(1)  # type: ignore[union-attr]
    assert "payments:read, payouts:read, reports:read" in made.output

    forged = client.post("/api/v1/refunds", json={"payment": payment_id}, headers=auth(key))
    assert forged.status_code == 403
    error = forged.json["error"]
    assert set(error) == {"type", "code", "message", "param"}
    assert error["type"] == "permission_error" and error["code"] == "permission_denied"
    assert "payments:refund" in error["message"]
    assert refunds_of(clean, tenant, payment_id) == []
    # Another tenant's payment: refused the same way, so the answer tells nothing about it.
    assert client.post("/api/v1/refunds", json={"payment": others}, headers=auth(key)).status_code == 403
    # What an analyst may do still works with the key.
    assert client.get(f"/api/v1/payments/{payment_id}", headers=auth(key)).status_code == 200
    assert client.get("/api/v1/balance", headers=auth(key)).status_code == 200
    assert client.get(f"/api/v1/payments/{others}", headers=auth(key)).status_code == 404

    # The full secret key lists the restricted one with its permissions; a refund key may refund.
    listed = client.get("/api/v1/api_keys", headers=auth(tenant.keys.secret_key)).json["data"]
    assert [k["permissions"] for k in listed if k["permissions"]] == [
        ["payments:read", "payouts:read", "reports:read"]
    ]
    refunder = restricted_key(clean, tenant, frozenset({Permission.PAYMENTS_REFUND}))
    ok = client.post("/api/v1/refunds", json={"payment": payment_id, "amount": 100}, headers=auth(refunder))
    assert ok.status_code == 201, ok.json
    assert client.post("/api/v1/refunds", json={"payment": others}, headers=auth(refunder)).status_code == 404


def test_the_cli_refuses_an_unknown_permission(app: Flask, make: Factories, clean: Runtime) -> None:
    tenant = make.tenants()
    made = cli(app, "keys", "create", "--tenant", tenant.tenant.slug, "--permission", "payments:steal")
    assert made.exit_code != 0 and "Unknown permission 'payments:steal'" in made.output
    assert "payments:refund" in made.output  # it names the catalogue
    listed = cli(app, "keys", "list", "--tenant", tenant.tenant.slug)
    assert len(listed.output.strip().splitlines()) == 2  # the tenant's test pair, nothing more


def test_a_restricted_key_cannot_roll_its_way_to_a_full_key(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    manager = restricted_key(clean, tenant, frozenset({Permission.API_KEYS_MANAGE, Permission.PAYMENTS_READ}))
    keys = client.get("/api/v1/api_keys", headers=auth(manager)).json["data"]
    full = next(k for k in keys if k["kind"] == "secret" and k["permissions"] is None)
    mine = next(k for k in keys if k["permissions"])
    for action in ("roll", "revoke"):
        refused = client.post(f"/api/v1/api_keys/{full['id']}/{action}", json={}, headers=auth(manager))
        assert refused.status_code == 403 and refused.json["error"]["param"] == "id"
    assert client.get("/api/v1/balance", headers=auth(tenant.keys.secret_key)).status_code == 200

    rolled = client.post(
        f"/api/v1/api_keys/{mine['id']}/roll", json={"overlap_seconds": 0}, headers=auth(manager)
    )
    assert rolled.status_code == 201 and rolled.json["permissions"] == ["api_keys:manage", "payments:read"]
    new_key = rolled.json["secret"]
    assert client.get("/api/v1/payments", headers=auth(new_key)).status_code == 200
    assert client.get("/api/v1/balance", headers=auth(new_key)).status_code == 403


def test_the_home_page_shows_keys_only_to_who_manages_them(
    app: Flask, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    for role, shown in ((Role.VIEWER, False), (Role.DEVELOPER, True)):
        browser = app.test_client()
        sign_in_as(browser, *add_member(clean, tenant, role))
        home = browser.get("/portal/").get_data(as_text=True)
        assert (tenant.keys.publishable_key in home) is shown, role
        assert f"<dd>{role}</dd>" in home


@pytest.mark.parametrize("role", ["support", "viewer"])
def test_users_create_takes_the_new_roles(app: Flask, make: Factories, clean: Runtime, role: str) -> None:
    tenant = make.tenants()
    made = cli(
        app,
        "users",
        "create",
        "--tenant",
        tenant.tenant.slug,
        "--email",
        f"{role}@shop.example",
        "--role",
        role,
        "--password",
        PASSWORD,
    )
    assert made.exit_code == 0, made.output
    assert f"is {role} of {tenant.tenant.slug}" in made.output
    assert json.dumps(role)  # the role is stored by its contract name
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        from tenants.models import Membership

        assert role in {str(m.role) for m in uow.session.scalars(select(Membership))}
