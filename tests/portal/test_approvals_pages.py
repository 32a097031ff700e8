"""Four-eyes approvals: what an owner holds for a second person, carried out once when another approves."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from core.audit import actions
from core.clock import FrozenClock
from core.jobs.runtime import Runtime
from tenants.models import ApiKey, ApprovalRequest, ApprovalStatus, KeyMode, Role
from tests.fixtures import Factories, inspector
from tests.payments_helpers import auth, work
from tests.portal.team_helpers import add_member, audit_rows, csrf_token, sign_in_as, token_of
from tests.portal.test_sign_in import sign_in
from tests.smtp_server import SmtpServer
from tests.test_route_permissions import paid, refunds_of


def set_policy(client: FlaskClient, **fields: str) -> None:
    page = client.get("/portal/approvals/settings")
    assert page.status_code == 200
    response = client.post(
        "/portal/approvals/settings", data={"csrf_token": csrf_token(page.get_data(as_text=True)), **fields}
    )
    assert response.status_code == 303
    assert "Approval rules saved." in client.get("/portal/approvals").get_data(as_text=True)


def refund(client: FlaskClient, payment_id: str, amount: str, reason: str = "") -> str:
    detail = client.get(f"/portal/payments/{payment_id}").get_data(as_text=True)
    response = client.post(
        f"/portal/payments/{payment_id}/refund",
        data={
            "csrf_token": csrf_token(detail),
            "amount": amount,
            "approval_reason": reason,
            "confirmed": "yes",  # past the confirmation step
        },
    )
    assert response.status_code == 303
    return client.get(f"/portal/payments/{payment_id}").get_data(as_text=True)


def requests_of(rt: Runtime, tenant_id: str) -> list[ApprovalRequest]:
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        found = list(uow.session.scalars(select(ApprovalRequest).order_by(ApprovalRequest.created_at)))
        uow.session.expunge_all()
        return found


def decide(client: FlaskClient, request_id: str, button: str = "approve"):  # type: ignore[no-untyped-def]
    page = client.get(f"/portal/approvals/{request_id}").get_data(as_text=True)
    token = csrf_token(page) if 'name="csrf_token"' in page else token_of(client)
    return client.post(
        f"/portal/approvals/{request_id}/decide", data={"csrf_token": token, button: button.title()}
    )


def test_a_refund_above_the_threshold_waits_for_a_second_person_then_happens_once(
    app: Flask, client: FlaskClient, make: Factories, clean: Runtime, mail_to_smtp: SmtpServer
) -> None:
    tenant = make.tenants()
    payment_id = paid(client, clean, tenant, amount=5000)
    sign_in(client, tenant)  # the owner
    set_policy(client, refund="y", refund_thresholds="EUR 20.00")
    admin = app.test_client()
    sign_in_as(admin, *add_member(clean, tenant, Role.ADMIN))

    below = refund(admin, payment_id, "5.00")
    assert "Refunded €5.00" in below  # at or below the amount: carried out at once
    page = refund(admin, payment_id, "25.00", reason="Customer returned two bags")
    assert "needs a second person" in page
    [held] = requests_of(clean, tenant.id)
    assert held.status is ApprovalStatus.PENDING and held.params["amount"] == 2500
    assert held.reason == "Customer returned two bags"
    assert [r.amount for r in refunds_of(clean, tenant, payment_id)] == [500]
    nav = admin.get("/portal/").get_data(as_text=True)
    assert re.search(r"Approvals <span class=\"count\"[^>]*>1</span>", nav)

    own = decide(admin, held.id)
    assert own.status_code == 403 and "another person" in own.get_data(as_text=True)
    assert requests_of(clean, tenant.id)[0].status is ApprovalStatus.PENDING
    approved = decide(client, held.id)
    assert approved.status_code == 303
    assert "Approved and carried out." in client.get(f"/portal/approvals/{held.id}").get_data(as_text=True)
    assert sorted(r.amount for r in refunds_of(clean, tenant, payment_id)) == [500, 2500]
    again = decide(client, held.id)
    assert again.status_code == 303  # refused with a message: it is no longer pending
    assert "can no longer be decided" in client.get(f"/portal/approvals/{held.id}").get_data(as_text=True)
    assert len(refunds_of(clean, tenant, payment_id)) == 2
    [done] = requests_of(clean, tenant.id)
    assert done.status is ApprovalStatus.APPROVED and done.result and done.result["amount"] == 2500

    work(clean)
    deliveries = mail_to_smtp.inbox.wait_for(2)
    to = [d.recipients[0] for d in deliveries]
    assert tenant.owner_email in to  # who can decide hears of the request
    assert f"admin-{tenant.tenant.slug}@example.com" in to  # the requester hears the outcome
    done_actions = [e.action for e in audit_rows(clean, tenant)]
    for action in (actions.APPROVAL_POLICY_CHANGED, actions.APPROVAL_REQUESTED, actions.APPROVAL_APPROVED):
        assert action in done_actions
    assert done_actions.count(actions.REFUND_CREATED) == 2


def test_a_member_without_approvals_decide_cannot_approve(
    app: Flask, client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    payment_id = paid(client, clean, tenant, amount=5000)
    sign_in(client, tenant)
    set_policy(client, refund="y", refund_thresholds="EUR 1.00")
    refund(client, payment_id, "10.00")  # the owner asks
    [held] = requests_of(clean, tenant.id)
    support = app.test_client()
    sign_in_as(support, *add_member(clean, tenant, Role.SUPPORT))
    page = support.get(f"/portal/approvals/{held.id}").get_data(as_text=True)
    assert "/decide" not in page
    forged = support.post(
        f"/portal/approvals/{held.id}/decide", data={"csrf_token": csrf_token(page), "approve": "Approve"}
    )
    assert forged.status_code == 403
    assert refunds_of(clean, tenant, payment_id) == []


def test_an_expired_request_cannot_be_approved(
    app: Flask, client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    payment_id = paid(client, clean, tenant, amount=5000)
    sign_in(client, tenant)
    set_policy(client, refund="y", refund_thresholds="EUR 1.00")
    admin = app.test_client()
    sign_in_as(admin, *add_member(clean, tenant, Role.ADMIN))
    refund(admin, payment_id, "10.00")
    [held] = requests_of(clean, tenant.id)
    # 72 hours later (moved in the database: the members' sessions and codes live in real time).
    with inspector(clean).begin() as conn:
        conn.execute(
            text("UPDATE approval_requests SET expires_at = created_at - interval '1 second' WHERE id = :i")
            if clean.db.is_postgres
            else text("UPDATE approval_requests SET expires_at = '2000-01-01 00:00:00' WHERE id = :i"),
            {"i": held.id},
        )
    page = client.get(f"/portal/approvals/{held.id}").get_data(as_text=True)
    assert "expired" in page and "/decide" not in page
    response = client.post(
        f"/portal/approvals/{held.id}/decide", data={"csrf_token": csrf_token(page), "approve": "Approve"}
    )
    assert response.status_code == 303
    assert "can no longer be decided" in client.get(f"/portal/approvals/{held.id}").get_data(as_text=True)
    assert requests_of(clean, tenant.id)[0].status is ApprovalStatus.EXPIRED
    assert refunds_of(clean, tenant, payment_id) == []
    assert actions.APPROVAL_EXPIRED in [e.action for e in audit_rows(clean, tenant)]


def test_the_cron_sweep_expires_pending_requests(
    app: Flask, client: FlaskClient, make: Factories, clean: Runtime, clock: FrozenClock
) -> None:
    from tenants.notifications import expire_approvals

    tenant = make.tenants()
    payment_id = paid(client, clean, tenant, amount=5000)
    sign_in(client, tenant)
    set_policy(client, refund="y", refund_thresholds="EUR 1.00")
    refund(client, payment_id, "10.00")
    assert expire_approvals(tenant_id=tenant.id) == 0
    clock.advance(hours=73)
    assert expire_approvals(tenant_id=tenant.id) == 1
    assert requests_of(clean, tenant.id)[0].status is ApprovalStatus.EXPIRED


def test_an_api_refund_above_the_threshold_answers_202_with_the_pending_request(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    payment_id = paid(client, clean, tenant, amount=5000)
    sign_in(client, tenant)
    set_policy(client, refund="y", refund_thresholds="EUR 20.00")
    held = client.post(
        "/api/v1/refunds", json={"payment": payment_id, "amount": 3000}, headers=auth(tenant.keys.secret_key)
    )
    assert held.status_code == 202, held.json
    assert held.json["object"] == "approval_request" and held.json["status"] == "pending"
    assert held.json["kind"] == "refund" and held.json["id"].startswith("apr_")
    assert refunds_of(clean, tenant, payment_id) == []
    small = client.post(
        "/api/v1/refunds", json={"payment": payment_id, "amount": 1000}, headers=auth(tenant.keys.secret_key)
    )
    assert small.status_code == 201 and small.json["amount"] == 1000
    # The owner (a person, not the key) approves it in the portal.
    assert decide(client, held.json["id"]).status_code == 303
    assert sorted(r.amount for r in refunds_of(clean, tenant, payment_id)) == [1000, 3000]


def test_a_held_live_secret_key_is_shown_once_to_its_requester_after_approval(
    app: Flask, client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    set_policy(client, live_keys="y")
    developer = app.test_client()
    sign_in_as(developer, *add_member(clean, tenant, Role.ADMIN, email="dev@example.com"))
    page = developer.get("/portal/api-keys").get_data(as_text=True)
    response = developer.post(
        "/portal/api-keys/new", data={"csrf_token": csrf_token(page), "mode": "live", "reason": "launch"}
    )
    assert response.status_code == 303 and "/portal/approvals/apr_" in response.location
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        assert uow.session.scalar(select(ApiKey.id).where(ApiKey.mode == KeyMode.LIVE)) is None
    [held] = requests_of(clean, tenant.id)
    assert decide(client, held.id).status_code == 303
    approver_view = client.get(f"/portal/approvals/{held.id}").get_data(as_text=True)
    assert not re.search(r"sk_live_[A-Za-z0-9]{32}", approver_view)  # the approver never sees the secret
    first = developer.get(f"/portal/approvals/{held.id}").get_data(as_text=True)
    secret = re.search(r"(sk_live_[A-Za-z0-9]{32})", first)
    assert secret, first
    assert secret.group(1) not in developer.get(f"/portal/approvals/{held.id}").get_data(as_text=True)  # once
    live = client.get("/api/v1/payments", headers=auth(secret.group(1)))
    assert live.status_code == 200


def test_only_an_owner_sets_what_needs_approval(app: Flask, make: Factories, clean: Runtime) -> None:
    tenant = make.tenants()
    admin = app.test_client()
    sign_in_as(admin, *add_member(clean, tenant, Role.ADMIN))
    assert admin.get("/portal/approvals/settings").status_code == 403
    forged = admin.post("/portal/approvals/settings", data={"csrf_token": token_of(admin), "refund": ""})
    assert forged.status_code == 403


def test_a_threshold_that_is_not_an_amount_is_a_form_error(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    page = client.get("/portal/approvals/settings").get_data(as_text=True)
    response = client.post(
        "/portal/approvals/settings",
        data={"csrf_token": csrf_token(page), "refund": "y", "refund_thresholds": "EUR lots"},
    )
    assert response.status_code == 303
    assert "write an amount like EUR 100.00" in client.get("/portal/approvals/settings").get_data(
        as_text=True
    )
