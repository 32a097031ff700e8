"""The team: invitations by email, roles, custom roles, the grant rule, the last owner, switching tenant."""

from __future__ import annotations

import re

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from core.audit import actions
from core.clock import FrozenClock
from core.jobs.runtime import Runtime
from tenants.models import Invitation, Membership, Role
from tenants.permissions import Permission
from tests.fixtures import Factories, inspector
from tests.payments_helpers import work
from tests.portal.team_helpers import (
    PASSWORD,
    add_member,
    audit_rows,
    csrf_token,
    custom_role,
    give_role,
    invitation_link,
    membership_of,
    sign_in_as,
    token_of,
)
from tests.portal.test_sign_in import sign_in
from tests.smtp_server import SmtpServer
from tests.test_route_permissions import paid, refunds_of

NEW_PASSWORD = "a long new password 42"


def invite(client: FlaskClient, email: str, role: str) -> int:
    token = token_of(client, "/portal/team")
    return client.post(
        "/portal/team/invite", data={"csrf_token": token, "email": email, "role": role}
    ).status_code


def enroll_and_sign_in(client: FlaskClient, email: str, password: str) -> None:
    """First sign-in of an account without TOTP: enroll with the shown key."""
    page = client.get("/portal/login")
    response = client.post(
        "/portal/login",
        data={"email": email, "password": password, "csrf_token": csrf_token(page.get_data(as_text=True))},
    )
    assert response.status_code == 302 and response.location.endswith("/portal/login/enroll")
    enroll = client.get("/portal/login/enroll").get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', enroll)
    assert secret
    response = client.post(
        "/portal/login/enroll",
        data={"code": pyotp.TOTP(secret.group(1)).now(), "csrf_token": csrf_token(enroll)},
    )
    # Enrolled: the ten recovery codes are shown once (tenants/sign_in.py), then the portal.
    assert response.status_code == 200 and "recovery codes" in response.get_data(as_text=True).lower()


def test_an_admin_invites_support_who_accepts_in_a_fresh_browser_and_refunds_part_of_a_payment(
    app: Flask, client: FlaskClient, make: Factories, clean: Runtime, mail_to_smtp: SmtpServer
) -> None:
    tenant = make.tenants(name="Acme Coffee")
    payment_id = paid(client, clean, tenant, amount=2500)
    admin = app.test_client()
    sign_in_as(admin, *add_member(clean, tenant, Role.ADMIN))
    assert invite(admin, "New.Agent@Example.com", "support") == 303
    assert "Invitation sent to new.agent@example.com" in admin.get("/portal/team").get_data(as_text=True)
    work(clean)
    [delivery] = mail_to_smtp.inbox.wait_for(1)
    assert delivery.recipients == ["new.agent@example.com"]
    body = delivery.text("plain")
    assert "Acme Coffee" in body and "support" in body
    link = invitation_link(body)

    invitee = app.test_client()  # a fresh browser: no cookie of anyone's
    page = invitee.get(link).get_data(as_text=True)
    assert "Join Acme Coffee" in page and "support" in page
    mismatch = invitee.post(
        link, data={"csrf_token": csrf_token(page), "password": NEW_PASSWORD, "confirm": "something else 123"}
    )
    assert mismatch.status_code == 200 and "The passwords differ." in mismatch.get_data(as_text=True)
    accepted = invitee.post(
        link, data={"csrf_token": csrf_token(page), "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )
    assert accepted.status_code == 303 and accepted.location.endswith("/portal/login")
    # Single use: the same link now says so.
    again = invitee.get(link)
    assert again.status_code == 409 and "used already" in again.get_data(as_text=True)

    enroll_and_sign_in(invitee, "new.agent@example.com", NEW_PASSWORD)
    detail = invitee.get(f"/portal/payments/{payment_id}").get_data(as_text=True)
    assert f"/portal/payments/{payment_id}/refund" in detail
    refund = invitee.post(
        f"/portal/payments/{payment_id}/refund",
        data={"csrf_token": csrf_token(detail), "amount": "7.50", "confirmed": "yes"},
    )
    assert refund.status_code == 303
    [made] = refunds_of(clean, tenant, payment_id)
    assert made.amount == 750
    # A support agent manages no team.
    assert invitee.get("/portal/team").status_code == 403
    done = [e.action for e in audit_rows(clean, tenant)]
    for action in (actions.INVITATION_CREATED, actions.INVITATION_SENT, actions.INVITATION_ACCEPTED):
        assert action in done


def test_an_existing_account_accepts_with_its_own_password_and_switches_between_tenants(
    app: Flask, client: FlaskClient, make: Factories, clean: Runtime, mail_to_smtp: SmtpServer
) -> None:
    first, second = make.tenants(name="First Shop"), make.tenants(name="Second Shop")
    sign_in(client, second)
    assert invite(client, first.owner_email, "analyst") == 303
    work(clean)
    link = invitation_link(mail_to_smtp.inbox.wait_for(1)[0].text("plain"))
    browser = app.test_client()
    page = browser.get(link).get_data(as_text=True)
    assert "has a Kassa account" in page
    wrong = browser.post(link, data={"csrf_token": csrf_token(page), "password": "not the password!"})
    assert wrong.status_code == 400 and "incorrect" in wrong.get_data(as_text=True)
    assert browser.post(link, data={"csrf_token": csrf_token(page), "password": PASSWORD}).status_code == 303

    sign_in(browser, first)  # first's owner, now also an analyst of Second Shop
    home = browser.get("/portal/").get_data(as_text=True)
    assert "First Shop" in home and "Second Shop" in home  # the switcher lists both
    switched = browser.post(
        "/portal/switch-tenant", data={"csrf_token": csrf_token(home), "tenant_id": second.id}
    )
    assert switched.status_code == 303
    home = browser.get("/portal/").get_data(as_text=True)
    assert "<h1>Second Shop</h1>" in home and "<dd>analyst</dd>" in home
    assert browser.get("/portal/team").status_code == 403  # an analyst there
    stranger = make.tenants()
    refused = browser.post(
        "/portal/switch-tenant", data={"csrf_token": csrf_token(home), "tenant_id": stranger.id}
    )
    assert refused.status_code == 404
    assert actions.PORTAL_TENANT_SWITCHED in [e.action for e in audit_rows(clean, second)]


def test_an_invitation_expires_and_a_withdrawn_one_no_longer_works(
    app: Flask,
    client: FlaskClient,
    make: Factories,
    clean: Runtime,
    clock: FrozenClock,
    mail_to_smtp: SmtpServer,
) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    assert invite(client, "late@example.com", "viewer") == 303
    assert invite(client, "withdrawn@example.com", "viewer") == 303
    work(clean)
    links = {d.recipients[0]: invitation_link(d.text("plain")) for d in mail_to_smtp.inbox.wait_for(2)}
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        withdrawn = uow.session.scalar(
            select(Invitation.id).where(Invitation.email == "withdrawn@example.com")
        )
        assert (
            uow.session.scalar(select(Invitation.token_encrypted).where(Invitation.id == withdrawn)) is None
        )
    page = client.get("/portal/team").get_data(as_text=True)
    client.post(f"/portal/team/invitations/{withdrawn}/revoke", data={"csrf_token": csrf_token(page)})
    browser = app.test_client()
    assert "withdrawn" in browser.get(links["withdrawn@example.com"]).get_data(as_text=True)
    clock.advance(days=7, seconds=1)
    expired = browser.get(links["late@example.com"])
    assert expired.status_code == 409 and "expired" in expired.get_data(as_text=True)
    assert browser.get("/portal/invitations/not-a-real-token").status_code == 404


def test_the_last_owner_can_be_neither_removed_nor_demoted(
    app: Flask, client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    owner = membership_of(clean, tenant, tenant.owner_email)
    page = client.get("/portal/team").get_data(as_text=True)
    demote = client.post(
        f"/portal/team/members/{owner}/role",
        data={f"{owner}-csrf_token": csrf_token(page), f"{owner}-role": "admin"},
    )
    assert demote.status_code == 303
    assert "last owner" in client.get("/portal/team").get_data(as_text=True)
    remove = client.post(f"/portal/team/members/{owner}/remove", data={"csrf_token": csrf_token(page)})
    assert remove.status_code == 303
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        assert uow.session.scalar(select(Membership.role).where(Membership.id == owner)) is Role.OWNER
    # An admin cannot demote or remove an owner at all, nor make anyone an owner.
    email, secret = add_member(clean, tenant, Role.ADMIN)
    admin = app.test_client()
    sign_in_as(admin, email, secret)
    token = token_of(admin, "/portal/team")
    assert admin.post(f"/portal/team/members/{owner}/remove", data={"csrf_token": token}).status_code == 403
    viewer = membership_of(clean, tenant, add_member(clean, tenant, Role.VIEWER)[0])
    made_owner = admin.post(
        f"/portal/team/members/{viewer}/role", data={f"{viewer}-csrf_token": token, f"{viewer}-role": "owner"}
    )
    assert made_owner.status_code == 403
    # With a second owner, the first may step down.
    promote = client.post(
        f"/portal/team/members/{viewer}/role",
        data={f"{viewer}-csrf_token": token_of(client), f"{viewer}-role": "owner"},
    )
    assert promote.status_code == 303
    step_down = client.post(
        f"/portal/team/members/{owner}/role",
        data={f"{owner}-csrf_token": token_of(client), f"{owner}-role": "admin"},
    )
    assert step_down.status_code == 303
    assert actions.MEMBERSHIP_ROLE_CHANGED in [e.action for e in audit_rows(clean, tenant)]


def test_a_custom_role_with_only_payments_and_reports_read_works_as_defined(
    app: Flask, client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    payment_id = paid(client, clean, tenant)
    role_id = custom_role(clean, tenant, "Bookkeeper", {Permission.PAYMENTS_READ, Permission.REPORTS_READ})
    email, secret = add_member(clean, tenant, Role.VIEWER)
    give_role(clean, tenant, email, role_id)
    browser = app.test_client()
    sign_in_as(browser, email, secret)
    assert "<dd>Bookkeeper</dd>" in browser.get("/portal/").get_data(as_text=True)
    assert browser.get("/portal/payments").status_code == 200
    detail = browser.get(f"/portal/payments/{payment_id}").get_data(as_text=True)
    assert f"/portal/payments/{payment_id}/refund" not in detail
    forged = browser.post(f"/portal/payments/{payment_id}/refund", data={"csrf_token": csrf_token(detail)})
    assert forged.status_code == 403 and refunds_of(clean, tenant, payment_id) == []
    for page in ("/portal/team", "/portal/api-keys", "/portal/team/roles"):
        assert browser.get(page).status_code == 403, page
    nav = browser.get("/portal/").get_data(as_text=True)
    assert ">Team<" not in nav and ">API keys<" not in nav


def test_nobody_grants_a_permission_they_lack(
    app: Flask, client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    lead = custom_role(clean, tenant, "Team lead", {Permission.TEAM_MANAGE, Permission.PAYMENTS_READ})
    email, secret = add_member(clean, tenant, Role.VIEWER)
    give_role(clean, tenant, email, lead)
    browser = app.test_client()
    sign_in_as(browser, email, secret)
    form = browser.get("/portal/team/roles/new").get_data(as_text=True)
    assert (
        'value="payments:read"' in form and 'value="payments:refund"' not in form
    )  # offered: what they hold
    forged = browser.post(
        "/portal/team/roles/new",
        data={
            "csrf_token": csrf_token(form),
            "name": "Refunder",
            "permissions": ["payments:read", "payments:refund"],
        },
    )
    assert forged.status_code == 403
    assert "payments:refund" in forged.get_data(as_text=True)
    team_page = browser.get("/portal/team").get_data(as_text=True)
    assert '<option value="support"' not in team_page and '<option value="viewer"' in team_page
    assert invite(browser, "someone@example.com", "support") == 403
    fine = browser.post(
        "/portal/team/roles/new",
        data={"csrf_token": csrf_token(form), "name": "Reader", "permissions": ["payments:read"]},
    )
    assert fine.status_code == 303
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        assert uow.session.scalar(select(Invitation.id)) is None
    assert [e.action for e in audit_rows(clean, tenant)].count(actions.ROLE_CREATED) == 2


def test_another_tenants_members_keys_invitations_roles_and_approvals_are_not_found(
    app: Flask, client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    mine, theirs = make.tenants(), make.tenants()
    their_member = membership_of(clean, theirs, theirs.owner_email)
    their_role = custom_role(clean, theirs, "Theirs", {Permission.PAYMENTS_READ})
    with clean.db.unit_of_work(tenant_id=theirs.id) as uow:
        from tenants.models import ApiKey

        their_key = uow.session.scalar(select(ApiKey.id))
    sign_in(client, mine)
    token = token_of(client)
    assert client.post(
        f"/portal/team/members/{their_member}/role",
        data={f"{their_member}-csrf_token": token, f"{their_member}-role": "viewer"},
    ).status_code in (303, 404)
    assert (
        client.post(f"/portal/team/members/{their_member}/remove", data={"csrf_token": token}).status_code
        == 404
    )
    assert client.get(f"/portal/team/roles/{their_role}").status_code == 404
    assert (
        client.post(f"/portal/team/roles/{their_role}/delete", data={"csrf_token": token}).status_code == 404
    )
    assert client.post(f"/portal/api-keys/{their_key}/revoke", data={"csrf_token": token}).status_code == 404
    assert (
        client.post(
            f"/portal/api-keys/{their_key}/roll", data={"csrf_token": token, "overlap": "0"}
        ).status_code
        == 404
    )
    assert (
        client.post(
            "/portal/team/invitations/inv_01jd8x3m4n5p6q7r8s9t0v1w2x/revoke", data={"csrf_token": token}
        ).status_code
        == 404
    )
    assert client.get("/portal/approvals/apr_01jd8x3m4n5p6q7r8s9t0v1w2x").status_code == 404
    with inspector(clean).connect() as conn:
        from sqlalchemy import text

        revoked = conn.execute(
            text("SELECT revoked_at FROM api_keys WHERE id = :k"), {"k": their_key}
        ).scalar()
    assert revoked is None


def test_every_team_form_refuses_a_missing_csrf_token(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    owner = membership_of(clean, tenant, tenant.owner_email)
    for url, data in (
        ("/portal/team/invite", {"email": "x@example.com", "role": "viewer"}),
        (f"/portal/team/members/{owner}/role", {f"{owner}-role": "admin"}),
        (f"/portal/team/members/{owner}/remove", {}),
        ("/portal/team/roles/new", {"name": "X", "permissions": "payments:read"}),
        ("/portal/switch-tenant", {"tenant_id": tenant.id}),
        ("/portal/api-keys/new", {"mode": "test"}),
        ("/portal/approvals/settings", {"refund": "y", "refund_thresholds": "EUR 1.00"}),
    ):
        assert client.post(url, data=data).status_code == 400, url
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        assert uow.session.scalar(select(Invitation.id)) is None


def test_removing_a_member_ends_their_sessions_there(
    app: Flask, client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    email, secret = add_member(clean, tenant, Role.SUPPORT)
    member = app.test_client()
    sign_in_as(member, email, secret)
    assert member.get("/portal/payments").status_code == 200
    sign_in(client, tenant)
    target = membership_of(clean, tenant, email)
    assert (
        client.post(
            f"/portal/team/members/{target}/remove", data={"csrf_token": token_of(client)}
        ).status_code
        == 303
    )
    assert member.get("/portal/payments").status_code == 302  # signed out
    assert actions.MEMBERSHIP_REMOVED in [e.action for e in audit_rows(clean, tenant)]
