"""Helpers of the team, API keys and approvals tests: members, custom roles, signing in, forms."""

from __future__ import annotations

import re

import pyotp
from flask.testing import FlaskClient
from sqlalchemy import select

from core.audit.models import AuditEvent
from core.context import Actor
from core.jobs.runtime import Runtime
from tenants import team
from tenants.models import Membership, Role, User
from tenants.permissions import Permission
from tenants.service import create_user
from tests.factories import PASSWORD, MadeTenant
from tests.portal.test_sign_in import csrf_token, post_form

__all__ = ["PASSWORD", "csrf_token", "post_form"]

TEST = Actor.system("test")


def add_member(rt: Runtime, tenant: MadeTenant, role: Role, *, email: str | None = None) -> tuple[str, str]:
    """A member of `tenant` with `role`: (email, TOTP seed)."""
    email = email or f"{role}-{tenant.tenant.slug}@example.com"
    secret = pyotp.random_base32(32)
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        create_user(
            uow.session,
            rt.context(uow, TEST),
            tenant_id=tenant.id,
            email=email,
            role=role,
            password=PASSWORD,
            totp_secret=secret,
        )
    return email, secret


def owner_granter(rt: Runtime, tenant: MadeTenant) -> team.Granter:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        user_id = uow.session.scalar(select(User.id).where(User.email == tenant.owner_email))
    assert user_id is not None
    return team.Granter(user_id=user_id, role=Role.OWNER, permissions=frozenset(Permission))


def custom_role(rt: Runtime, tenant: MadeTenant, name: str, held: set[Permission]) -> str:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        role = team.define_role(
            uow.session,
            rt.context(uow, TEST),
            role_id=None,
            name=name,
            permissions=frozenset(held),
            granter=owner_granter(rt, tenant),
        )
        return role.id


def give_role(rt: Runtime, tenant: MadeTenant, email: str, role: str) -> None:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        membership_id = membership_of(rt, tenant, email)
        team.change_role(
            uow.session,
            rt.context(uow, TEST),
            membership_id=membership_id,
            role=role,
            granter=owner_granter(rt, tenant),
        )


def membership_of(rt: Runtime, tenant: MadeTenant, email: str) -> str:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        found = uow.session.scalar(
            select(Membership.id).join(User, User.id == Membership.user_id).where(User.email == email)
        )
    assert found is not None
    return found


def sign_in_as(client: FlaskClient, email: str, secret: str) -> None:
    response = post_form(client, "/portal/login", {"email": email, "password": PASSWORD})
    assert response.status_code == 302 and response.location.endswith("/portal/login/code")
    response = post_form(client, "/portal/login/code", {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302 and response.location.endswith("/portal/")


def token_of(client: FlaskClient, url: str = "/portal/account") -> str:
    return csrf_token(client.get(url).get_data(as_text=True))


def flashes(client: FlaskClient, url: str) -> str:
    return client.get(url).get_data(as_text=True)


def audit_rows(rt: Runtime, tenant: MadeTenant) -> list[AuditEvent]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        rows = list(uow.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
        uow.session.expunge_all()
        return rows


def invitation_link(text: str) -> str:
    match = re.search(r"(/portal/invitations/[A-Za-z0-9_-]+)", text)
    assert match, text
    return match.group(1)
