"""Four-eyes approval of single sign-on changes (tenants/approvals.py `sso.configure`), against the real
local OpenID provider: held as a pending request with the client secret sealed, carried out exactly as
requested when another member who manages the team approves, never by the requester."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from core.audit import actions
from core.audit import service as audit
from core.audit.models import AuditEvent
from core.jobs.runtime import Runtime
from tenants import sso
from tenants.models import ApprovalStatus, Role, SsoProvider
from tenants.permissions import Permission
from tests.fixtures import Factories, inspector
from tests.oidc_provider import Provider
from tests.payments_helpers import work
from tests.portal.team_helpers import add_member, custom_role, give_role, sign_in_as
from tests.portal.test_approvals_pages import decide, requests_of, set_policy
from tests.portal.test_sign_in import post_form
from tests.smtp_server import SmtpServer
from tests.tenants.test_sso import CLIENT_SECRET, settings_form

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def _held_sso(app: Flask, client: FlaskClient, make: Factories, clean: Runtime):  # type: ignore[no-untyped-def]
    """A tenant whose owner (`client`) holds SSO changes for approval, and an admin signed in."""
    tenant = make.tenants()
    sign_in_as(client, tenant.owner_email, tenant.totp_secret)
    set_policy(client, sso="y")
    admin = app.test_client()
    email, secret = add_member(clean, tenant, Role.ADMIN, email=f"admin@{tenant.owner_email.split('@')[1]}")
    sign_in_as(admin, email, secret)
    return tenant, admin, email


def _all_text(rt: Runtime, tenant_id: str) -> str:
    """Every stored byte of the tenant's approval requests and audit details, as text (for leaks)."""
    with inspector(rt).connect() as conn:
        rows = conn.execute(
            text(
                "SELECT params::text, coalesce(result::text, '') FROM approval_requests WHERE tenant_id = :t"
            ),
            {"t": tenant_id},
        ).all()
    found = " ".join(" ".join(r) for r in rows)
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        for event in uow.session.scalars(select(AuditEvent)):
            found += " " + json.dumps(audit.read_details(uow.session, event, kms=rt.kms))
    return found


def test_a_held_sso_change_waits_for_another_member_then_is_carried_out_exactly_once(
    app: Flask,
    client: FlaskClient,
    make: Factories,
    clean: Runtime,
    oidc_provider: Provider,
    mail_to_smtp: SmtpServer,
) -> None:
    tenant, admin, admin_email = _held_sso(app, client, make, clean)
    domain = tenant.owner_email.split("@")[1]
    page = admin.get("/portal/settings/sso").get_data(as_text=True)
    assert "Ask for approval" in page and "Reason (for the approver)" in page
    response = post_form(
        admin,
        "/portal/settings/sso",
        settings_form(
            issuer=oidc_provider.issuer,
            allowed_domains=f"{domain}\nexample.org",
            required="y",
            reason="Move the team to our IdP",
        ),
    )
    assert response.status_code == 303 and "/portal/approvals/apr_" in response.location
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        assert uow.session.scalar(select(SsoProvider)) is None  # nothing changed yet
    [held] = requests_of(clean, tenant.id)
    assert held.kind == "sso.configure" and held.status is ApprovalStatus.PENDING
    assert held.reason == "Move the team to our IdP"
    assert held.params["issuer"] == oidc_provider.issuer and held.params["required"] is True
    assert held.params["allowed_domains"] == sorted([domain, "example.org"])
    assert held.params["client_secret"] == sso.SECRET_SET
    sealed = held.params["sealed_client_secret"]
    assert CLIENT_SECRET not in _all_text(clean, tenant.id)  # never stored in clear, nor audited
    assert sealed not in _all_text(clean, tenant.id).replace(f'"sealed_client_secret": "{sealed}"', "")

    # Listed, with a count, and shown without the secret in any form.
    listing = client.get("/portal/approvals").get_data(as_text=True)
    assert held.id in listing and "Single sign-on on, required" in listing
    detail = client.get(f"/portal/approvals/{held.id}").get_data(as_text=True)
    assert oidc_provider.issuer in detail and "example.org" in detail
    assert CLIENT_SECRET not in detail and sealed.split(":")[1][:20] not in detail

    own = decide(admin, held.id)
    assert own.status_code == 403 and "another person" in own.get_data(as_text=True)
    assert requests_of(clean, tenant.id)[0].status is ApprovalStatus.PENDING

    assert decide(client, held.id).status_code == 303
    [done] = requests_of(clean, tenant.id)
    assert done.status is ApprovalStatus.APPROVED, done.result
    assert "sealed_client_secret" not in done.params  # decided: the sealed copy is wiped
    assert done.params["client_secret"] == sso.SECRET_SET  # what was asked stays
    assert sealed.split(":")[1] not in _all_text(clean, tenant.id)
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        stored = uow.session.scalar(select(SsoProvider))
        assert stored is not None
        assert (stored.issuer, stored.client_id, stored.enabled, stored.required) == (
            oidc_provider.issuer,
            "kassa-portal",
            True,
            True,
        )
        assert sorted(stored.allowed_domains) == sorted([domain, "example.org"])
        assert sso.client_secret_of(uow.session, stored, kms=clean.kms) == CLIENT_SECRET
    assert decide(client, held.id).status_code == 303  # a second approval does nothing
    assert "can no longer be decided" in client.get(f"/portal/approvals/{held.id}").get_data(as_text=True)

    trail = [e.action for e in _events(clean, tenant.id)]
    assert trail.count(actions.SSO_PROVIDER_UPDATED) == 1
    for action in (actions.APPROVAL_POLICY_CHANGED, actions.APPROVAL_REQUESTED, actions.APPROVAL_APPROVED):
        assert action in trail
    assert trail.index(actions.APPROVAL_REQUESTED) < trail.index(actions.SSO_PROVIDER_UPDATED)
    assert CLIENT_SECRET not in _all_text(clean, tenant.id)

    work(clean)
    to = [d.recipients[0] for d in mail_to_smtp.inbox.wait_for(2)]
    assert tenant.owner_email in to and admin_email in to  # who may decide, then the requester


def _events(rt: Runtime, tenant_id: str) -> list[AuditEvent]:
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        found = list(uow.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
        uow.session.expunge_all()
        return found


def test_keeping_or_clearing_the_secret_is_carried_out_as_requested(
    app: Flask, client: FlaskClient, make: Factories, clean: Runtime, oidc_provider: Provider
) -> None:
    tenant, admin, _ = _held_sso(app, client, make, clean)
    domain = tenant.owner_email.split("@")[1]
    form = settings_form(issuer=oidc_provider.issuer, allowed_domains=domain)
    post_form(admin, "/portal/settings/sso", form)
    decide(client, requests_of(clean, tenant.id)[-1].id)
    # Then a change that leaves the secret field empty keeps the stored one...
    post_form(admin, "/portal/settings/sso", {**form, "client_secret": "", "display_name": "Renamed"})
    second = requests_of(clean, tenant.id)[-1]
    assert second.params["client_secret"] == sso.SECRET_KEEP and "sealed_client_secret" not in second.params
    decide(client, second.id)
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        stored = uow.session.scalar(select(SsoProvider))
        assert stored is not None and stored.display_name == "Renamed"
        assert sso.client_secret_of(uow.session, stored, kms=clean.kms) == CLIENT_SECRET
    # ...and "no client secret" removes it.
    post_form(admin, "/portal/settings/sso", {**form, "client_secret": "", "clear_secret": "y"})
    third = requests_of(clean, tenant.id)[-1]
    assert third.params["client_secret"] == sso.SECRET_CLEAR
    decide(client, third.id)
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        stored = uow.session.scalar(select(SsoProvider))
        assert stored is not None and stored.client_secret_encrypted is None


def test_deciding_needs_approvals_decide_and_team_manage(
    app: Flask, client: FlaskClient, make: Factories, clean: Runtime, oidc_provider: Provider
) -> None:
    tenant, admin, _ = _held_sso(app, client, make, clean)
    domain = tenant.owner_email.split("@")[1]
    post_form(
        admin, "/portal/settings/sso", settings_form(issuer=oidc_provider.issuer, allowed_domains=domain)
    )
    [held] = requests_of(clean, tenant.id)
    role = custom_role(
        clean, tenant, "Approver without team", {Permission.APPROVALS_DECIDE, Permission.PAYMENTS_READ}
    )
    email, secret = add_member(clean, tenant, Role.VIEWER, email=f"approver@{domain}")
    give_role(clean, tenant, email, role)
    approver = app.test_client()
    sign_in_as(approver, email, secret)
    assert approver.get(f"/portal/approvals/{held.id}").status_code == 404  # not theirs to see
    assert decide(approver, held.id).status_code == 404
    # Managing the team without approvals:decide: sees the request, cannot decide it.
    manager_role = custom_role(clean, tenant, "Team lead", {Permission.TEAM_MANAGE, Permission.PAYMENTS_READ})
    email, secret = add_member(clean, tenant, Role.VIEWER, email=f"lead@{domain}")
    give_role(clean, tenant, email, manager_role)
    manager = app.test_client()
    sign_in_as(manager, email, secret)
    page = manager.get(f"/portal/approvals/{held.id}")
    assert page.status_code == 200 and "/decide" not in page.get_data(as_text=True)
    forged = decide(manager, held.id)
    assert forged.status_code == 403 and "approvals:decide" in forged.get_data(as_text=True)
    assert requests_of(clean, tenant.id)[0].status is ApprovalStatus.PENDING


def test_a_change_that_cannot_work_is_refused_at_once_and_not_held(
    app: Flask, client: FlaskClient, make: Factories, clean: Runtime, oidc_provider: Provider
) -> None:
    tenant, admin, _ = _held_sso(app, client, make, clean)
    form = settings_form(
        issuer=oidc_provider.issuer + "/nothing-here", allowed_domains=tenant.owner_email.split("@")[1]
    )
    response = post_form(admin, "/portal/settings/sso", form)
    assert response.status_code == 400 and "discovery document answered 404" in response.get_data(
        as_text=True
    )
    response = post_form(
        admin,
        "/portal/settings/sso",
        settings_form(issuer=oidc_provider.issuer, allowed_domains="elsewhere.example", required="y"),
    )
    assert response.status_code == 400 and "would lock you out" in response.get_data(as_text=True)
    assert requests_of(clean, tenant.id) == []


def test_an_approved_change_whose_provider_stopped_answering_fails_and_changes_nothing(
    app: Flask,
    client: FlaskClient,
    make: Factories,
    clean: Runtime,
    oidc_provider: Provider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant, admin, _ = _held_sso(app, client, make, clean)
    form = settings_form(issuer=oidc_provider.issuer, allowed_domains=tenant.owner_email.split("@")[1])
    post_form(admin, "/portal/settings/sso", form)
    [held] = requests_of(clean, tenant.id)

    def gone(*args: object, **kwargs: object) -> sso.Metadata:
        raise sso.SsoError("The provider's discovery document answered 404.", reason="discovery")

    monkeypatch.setattr(sso, "fetch_metadata", gone)  # checked again at approval: the issuer went away
    assert decide(client, held.id).status_code == 303
    [failed] = requests_of(clean, tenant.id)
    assert failed.status is ApprovalStatus.FAILED and "answered 404" in (failed.result or {})["error"]
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        assert uow.session.scalar(select(SsoProvider)) is None
    assert actions.APPROVAL_FAILED in [e.action for e in _events(clean, tenant.id)]


def test_a_declined_sso_change_changes_nothing_and_its_sealed_secret_is_wiped(
    app: Flask, client: FlaskClient, make: Factories, clean: Runtime, oidc_provider: Provider
) -> None:
    tenant, admin, _ = _held_sso(app, client, make, clean)
    form = settings_form(issuer=oidc_provider.issuer, allowed_domains=tenant.owner_email.split("@")[1])
    post_form(admin, "/portal/settings/sso", form)
    [held] = requests_of(clean, tenant.id)
    assert "sealed_client_secret" in held.params
    assert decide(client, held.id, "decline").status_code == 303
    [declined] = requests_of(clean, tenant.id)
    assert declined.status is ApprovalStatus.DECLINED and "sealed_client_secret" not in declined.params
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        assert uow.session.scalar(select(SsoProvider)) is None
    assert actions.APPROVAL_DECLINED in [e.action for e in _events(clean, tenant.id)]
