"""Four-eyes approval of payout bank account changes: held when the owner's policy says so (portal form and
API alike), carried out exactly as requested when another person approves, retired when it will not
happen; the owners are mailed at every step, the number never appears anywhere."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from core.audit import actions
from core.clock import FrozenClock
from core.jobs.outbox import OutboxMessage
from core.jobs.runtime import Runtime
from core.payouts import bank_accounts
from core.payouts.models import BankAccount, BankAccountStatus
from tenants.models import ApprovalStatus, Role
from tests.factories import MadeTenant
from tests.fixtures import Factories
from tests.payments_helpers import auth, work
from tests.portal.team_helpers import add_member, audit_rows, csrf_token, sign_in_as
from tests.portal.test_api_modes import live_key
from tests.portal.test_approvals_pages import decide, requests_of, set_policy
from tests.portal.test_sign_in import sign_in
from tests.smtp_server import SmtpServer

FIRST = "DE89370400440532013000"
SECOND = "DE75512108001245126199"


def add_account(client: FlaskClient, iban: str, reason: str = "") -> str:
    page = client.get("/portal/payouts/settings").get_data(as_text=True)
    response = client.post(
        "/portal/payouts/settings/bank_account",
        data={
            "csrf_token": csrf_token(page),
            "currency": "EUR",
            "country": iban[:2],
            "account_holder": "Shop GmbH",
            "iban": iban,
            "reason": reason,
        },
    )
    assert response.status_code == 303
    return client.get("/portal/payouts/settings").get_data(as_text=True)


def accounts_of(rt: Runtime, tenant: MadeTenant) -> dict[str, BankAccountStatus]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        rows = uow.session.scalars(select(BankAccount).order_by(BankAccount.created_at, BankAccount.id))
        return {row.last4: row.status for row in rows}


def notices_of(rt: Runtime, tenant: MadeTenant) -> list[tuple[str, str]]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        jobs = uow.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.job == bank_accounts.NOTIFY_JOB)
            .order_by(OutboxMessage.created_at, OutboxMessage.id)
        ).all()
        return [(str(j.kwargs["bank_account_id"]), str(j.kwargs["status"])) for j in jobs]


def test_a_held_bank_account_change_waits_for_a_second_person_then_is_made_exactly_as_asked(
    app: Flask, client: FlaskClient, make: Factories, clean: Runtime, mail_to_smtp: SmtpServer
) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)  # the owner
    assert "•••• 3000" in add_account(client, FIRST)  # no policy yet: active at once
    set_policy(client, bank_account="y")
    policy_page = client.get("/portal/approvals/settings").get_data(as_text=True)
    assert "Changing the payout bank account" in policy_page

    admin = app.test_client()
    sign_in_as(admin, *add_member(clean, tenant, Role.ADMIN))
    page = add_account(admin, SECOND, reason="We moved to the Commerzbank")
    assert "needs a second person" in page and "awaiting approval" in page
    assert "1245126199" not in page
    assert accounts_of(clean, tenant) == {
        "3000": BankAccountStatus.ACTIVE,
        "6199": BankAccountStatus.PENDING_APPROVAL,
    }
    [held] = requests_of(clean, tenant.id)
    assert held.kind == "payout.bank_account" and held.status is ApprovalStatus.PENDING
    assert held.reason == "We moved to the Commerzbank"
    assert set(held.params) == {"bank_account_id", "currency", "last4"}  # no number in the request
    assert "1245126199" not in str(held.params) + held.summary

    own = decide(admin, held.id)
    assert own.status_code == 403 and "another person" in own.get_data(as_text=True)
    assert accounts_of(clean, tenant)["6199"] is BankAccountStatus.PENDING_APPROVAL

    assert decide(client, held.id).status_code == 303  # the owner approves
    assert accounts_of(clean, tenant) == {
        "3000": BankAccountStatus.INACTIVE,
        "6199": BankAccountStatus.ACTIVE,
    }
    [done] = requests_of(clean, tenant.id)
    assert done.status is ApprovalStatus.APPROVED and done.result == {
        "bank_account": held.params["bank_account_id"],
        "currency": "EUR",
        "status": "active",
    }
    assert decide(client, held.id).status_code == 303  # no longer pending: nothing happens twice
    assert accounts_of(clean, tenant)["6199"] is BankAccountStatus.ACTIVE

    new_id = str(held.params["bank_account_id"])
    assert [s for (i, s) in notices_of(clean, tenant) if i == new_id] == ["pending_approval", "active"]
    work(clean)  # the real worker mails the owners (and the approval notices) through real SMTP
    subjects = [str(d.message["Subject"]) for d in mail_to_smtp.inbox.wait_for(5)]
    assert sum("•••• 6199" in s for s in subjects) == 2
    done_actions = [e.action for e in audit_rows(clean, tenant)]
    for action in (
        actions.APPROVAL_REQUESTED,
        actions.BANK_ACCOUNT_ADDED,
        actions.APPROVAL_APPROVED,
        actions.BANK_ACCOUNT_APPROVED,
    ):
        assert action in done_actions


def test_a_declined_bank_account_change_is_never_used(
    app: Flask, client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    add_account(client, FIRST)
    set_policy(client, bank_account="y")
    admin = app.test_client()
    sign_in_as(admin, *add_member(clean, tenant, Role.ADMIN))
    add_account(admin, SECOND)
    [held] = requests_of(clean, tenant.id)
    assert decide(client, held.id, "decline").status_code == 303
    assert accounts_of(clean, tenant) == {
        "3000": BankAccountStatus.ACTIVE,
        "6199": BankAccountStatus.INACTIVE,
    }
    assert actions.BANK_ACCOUNT_REJECTED in [e.action for e in audit_rows(clean, tenant)]
    assert "rejected" in [s for (_, s) in notices_of(clean, tenant)]


def test_an_expired_bank_account_change_is_retired_by_the_sweep(
    app: Flask, client: FlaskClient, make: Factories, clean: Runtime, clock: FrozenClock
) -> None:
    from tenants.notifications import expire_approvals

    tenant = make.tenants()
    sign_in(client, tenant)
    set_policy(client, bank_account="y")
    add_account(client, SECOND)  # the owner asks: someone else must approve
    assert accounts_of(clean, tenant) == {"6199": BankAccountStatus.PENDING_APPROVAL}
    clock.advance(hours=73)
    assert expire_approvals(tenant_id=tenant.id) == 1
    assert accounts_of(clean, tenant) == {"6199": BankAccountStatus.INACTIVE}


def test_a_member_without_payouts_manage_can_neither_ask_nor_approve(
    app: Flask, client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    set_policy(client, bank_account="y")
    add_account(client, SECOND)
    [held] = requests_of(clean, tenant.id)
    analyst = app.test_client()
    sign_in_as(analyst, *add_member(clean, tenant, Role.ANALYST))
    page = analyst.get("/portal/payouts/settings").get_data(as_text=True)
    assert "Save bank account" not in page
    forged = analyst.post(
        "/portal/payouts/settings/bank_account",
        data={"csrf_token": csrf_token(page), "currency": "EUR", "country": "DE", "account_holder": "X",
              "iban": FIRST},
    )  # fmt: skip
    assert forged.status_code == 403
    refused = analyst.post(
        f"/portal/approvals/{held.id}/decide", data={"csrf_token": csrf_token(page), "approve": "Approve"}
    )
    assert refused.status_code == 403
    assert accounts_of(clean, tenant) == {"6199": BankAccountStatus.PENDING_APPROVAL}


def test_the_api_adds_a_bank_account_or_answers_202_with_the_held_request(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    key = auth(tenant.keys.secret_key)
    body = {"currency": "EUR", "country": "DE", "account_holder": "Shop GmbH", "iban": FIRST}
    made = client.post("/api/v1/bank_accounts", json=body, headers=key)
    assert made.status_code == 201, made.json
    assert made.json["status"] == "active" and made.json["masked"] == "•••• 3000"
    assert "0532013000" not in made.get_data(as_text=True)

    bad = client.post("/api/v1/bank_accounts", json={**body, "iban": "DE89370400440532013001"}, headers=key)
    assert bad.status_code == 400 and bad.json["error"]["param"] == "iban"
    assert "0532013001" not in bad.get_data(as_text=True)
    us = client.post(
        "/api/v1/bank_accounts",
        json={"currency": "USD", "country": "US", "account_holder": "Shop Inc", "account_number": "12345678",
              "routing_number": "123456789"},
        headers=key,
    )  # fmt: skip
    assert us.status_code == 400 and us.json["error"]["param"] == "routing_number"

    live = client.post("/api/v1/bank_accounts", json=body, headers=auth(live_key(clean, tenant)))
    assert live.status_code == 409 and "test key" in live.json["error"]["message"]

    sign_in(client, tenant)
    set_policy(client, bank_account="y")
    held = client.post(
        "/api/v1/bank_accounts", json={**body, "iban": SECOND, "reason": "New bank"}, headers=key
    )
    assert held.status_code == 202, held.json
    assert held.json["object"] == "approval_request" and held.json["kind"] == "payout.bank_account"
    assert held.json["params"]["last4"] == "6199" and "1245126199" not in held.get_data(as_text=True)
    listed = client.get("/api/v1/bank_accounts", headers=key).json["data"]
    assert {a["last4"]: a["status"] for a in listed} == {"3000": "active", "6199": "pending_approval"}
    assert decide(client, held.json["id"]).status_code == 303  # a person approves what the key asked
    listed = client.get("/api/v1/bank_accounts", headers=key).json["data"]
    assert {a["last4"]: a["status"] for a in listed} == {"3000": "inactive", "6199": "active"}
