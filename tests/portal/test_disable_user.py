"""`kassa users disable` ends a user's sessions at once and keeps them out; `users enable` lets them in."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from core.audit.models import AuditEvent
from core.clock import FrozenClock
from core.jobs.runtime import Runtime
from tests.factories import PASSWORD
from tests.fixtures import Factories
from tests.portal.test_portal_sessions import is_signed_in, sign_in
from tests.portal.test_sign_in import post_form


def test_disabling_a_user_ends_their_sessions_at_once_and_is_audited(
    app: Flask,
    make: Factories,
    clock: FrozenClock,
    clean: Runtime,
) -> None:
    tenant = make.tenants()
    laptop, phone = app.test_client(), app.test_client()
    sign_in(laptop, tenant, clock)
    sign_in(phone, tenant, clock)
    result = app.test_cli_runner().invoke(args=["users", "disable", "--email", tenant.owner_email.upper()])
    assert result.exit_code == 0, result.output
    assert "is disabled; 2 open session(s) ended." in result.output
    assert not is_signed_in(laptop) and not is_signed_in(phone)
    response = post_form(laptop, "/portal/login", {"email": tenant.owner_email, "password": PASSWORD})
    assert response.status_code == 403 and "This account is disabled." in response.get_data(as_text=True)
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        actions = uow.session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
    assert "user.disabled" in actions

    result = app.test_cli_runner().invoke(args=["users", "enable", "--email", tenant.owner_email])
    assert result.exit_code == 0 and "can sign in again" in result.output
    assert sign_in(laptop, tenant, clock).endswith("/portal/")
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        assert "user.enabled" in uow.session.scalars(select(AuditEvent.action)).all()


def test_disabling_an_unknown_email_is_a_clear_error(app: Flask, clean: Runtime) -> None:
    result = app.test_cli_runner().invoke(args=["users", "disable", "--email", "nobody@shop.example"])
    assert result.exit_code == 1
    assert "No user has the email 'nobody@shop.example'." in result.output
    assert "Traceback" not in result.output


def test_a_user_of_two_tenants_is_disabled_in_both(
    app: Flask,
    make: Factories,
    clock: FrozenClock,
    clean: Runtime,
) -> None:
    first, second = make.tenants(), make.tenants()
    added = app.test_cli_runner().invoke(
        args=[
            "users", "create", "--tenant", second.tenant.slug, "--email", first.owner_email,
            "--role", "analyst", "--password", PASSWORD,
        ]
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    result = app.test_cli_runner().invoke(args=["users", "disable", "--email", first.owner_email])
    assert result.exit_code == 0, result.output
    for tenant in (first, second):
        with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
            assert "user.disabled" in uow.session.scalars(select(AuditEvent.action)).all()
