"""The API keys screen: both modes' keys, a restricted key shown once, roll with an overlap, revoke, the
last use (time and IP), and nobody obtaining a key that holds more than they do."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from core.audit import actions
from core.jobs.runtime import Runtime
from tenants.models import ApiKey, KeyKind, Role
from tests.fixtures import Factories
from tests.payments_helpers import auth
from tests.portal.team_helpers import add_member, audit_rows, csrf_token, sign_in_as
from tests.portal.test_sign_in import sign_in

SECRET = re.compile(r'<code class="secret wrap" id="new-secret">(sk_(?:test|live)_[A-Za-z0-9]{32})</code>')


def keys(rt: Runtime, tenant_id: str) -> list[ApiKey]:
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        found = list(uow.session.scalars(select(ApiKey).order_by(ApiKey.created_at)))
        uow.session.expunge_all()
        return found


def test_a_restricted_key_is_shown_once_and_holds_only_its_permissions(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    page = client.get("/portal/api-keys").get_data(as_text=True)
    assert tenant.keys.publishable_key in page and tenant.keys.secret_key not in page
    assert "Test mode" in page and "Live mode" in page
    made = client.post(
        "/portal/api-keys/new",
        data={"csrf_token": csrf_token(page), "mode": "test", "permissions": ["payments:read"]},
    )
    assert made.status_code == 201
    secret = SECRET.search(made.get_data(as_text=True))
    assert secret
    key = secret.group(1)
    assert key not in client.get("/portal/api-keys").get_data(as_text=True)  # once
    assert client.get("/api/v1/payments", headers=auth(key)).status_code == 200
    assert client.get("/api/v1/balance", headers=auth(key)).status_code == 403
    listing = client.get("/portal/api-keys").get_data(as_text=True)
    assert "from 127.0.0.1" in listing  # last used: time and IP
    [restricted] = [k for k in keys(clean, tenant.id) if k.permissions]
    assert restricted.permissions == ["payments:read"]


def test_rolling_keeps_the_old_key_for_the_overlap_and_revoking_ends_it(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    old = next(k for k in keys(clean, tenant.id) if k.kind is KeyKind.SECRET)
    page = client.get("/portal/api-keys").get_data(as_text=True)
    rolled = client.post(
        f"/portal/api-keys/{old.id}/roll", data={"csrf_token": csrf_token(page), "overlap": "3600"}
    )
    assert rolled.status_code == 201
    new = SECRET.search(rolled.get_data(as_text=True))
    assert new
    assert client.get("/api/v1/payments", headers=auth(new.group(1))).status_code == 200
    assert client.get("/api/v1/payments", headers=auth(tenant.keys.secret_key)).status_code == 200  # overlap
    assert "expiring" in client.get("/portal/api-keys").get_data(as_text=True)
    revoked = client.post(f"/portal/api-keys/{old.id}/revoke", data={"csrf_token": csrf_token(page)})
    assert revoked.status_code == 303
    assert client.get("/api/v1/payments", headers=auth(tenant.keys.secret_key)).status_code == 401
    done = [e.action for e in audit_rows(clean, tenant)]
    assert actions.API_KEY_ROLLED in done and actions.API_KEY_REVOKED in done


def test_a_developer_gets_no_key_that_holds_more_than_they_do(
    app: Flask, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    developer = app.test_client()
    sign_in_as(developer, *add_member(clean, tenant, Role.DEVELOPER))
    page = developer.get("/portal/api-keys").get_data(as_text=True)
    assert 'value="payments:refund"' not in page and 'value="payments:read"' in page
    token = csrf_token(page)
    full = developer.post("/portal/api-keys/new", data={"csrf_token": token, "mode": "test"})
    assert full.status_code == 403  # a full secret key holds every permission
    more = developer.post(
        "/portal/api-keys/new", data={"csrf_token": token, "mode": "test", "permissions": ["payments:refund"]}
    )
    assert more.status_code == 403
    full_key = next(k for k in keys(clean, tenant.id) if k.kind is KeyKind.SECRET)
    assert (
        developer.post(f"/portal/api-keys/{full_key.id}/roll", data={"csrf_token": token}).status_code == 403
    )
    assert (
        developer.post(f"/portal/api-keys/{full_key.id}/revoke", data={"csrf_token": token}).status_code
        == 403
    )
    fine = developer.post(
        "/portal/api-keys/new", data={"csrf_token": token, "mode": "test", "permissions": ["payments:read"]}
    )
    assert fine.status_code == 201


def test_a_custom_role_change_waits_for_approval_when_the_owner_requires_it(
    app: Flask, client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    from tests.portal.test_approvals_pages import decide, requests_of, set_policy

    tenant = make.tenants()
    sign_in(client, tenant)
    set_policy(client, roles="y")
    admin = app.test_client()
    sign_in_as(admin, *add_member(clean, tenant, Role.ADMIN))
    form = admin.get("/portal/team/roles/new").get_data(as_text=True)
    held = admin.post(
        "/portal/team/roles/new",
        data={
            "csrf_token": csrf_token(form),
            "name": "Refunder",
            "permissions": ["payments:refund"],
            "reason": "x",
        },
    )
    assert held.status_code == 303
    assert "Refunder" not in admin.get("/portal/team/roles").get_data(as_text=True)
    [request] = requests_of(clean, tenant.id)
    assert request.kind == "role.define"
    assert decide(client, request.id).status_code == 303
    assert "Refunder" in admin.get("/portal/team/roles").get_data(as_text=True)
