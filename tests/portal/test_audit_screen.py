"""The audit log screen: who, what, when, where and outcome; filters (plain GET and HTMX), cursor pages, the
streamed CSV export, one event, the chain's verification status and "Verify now"; tenant isolation."""

from __future__ import annotations

import csv
import io
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from core.audit.models import AuditEvent
from core.jobs.runtime import Runtime
from portal.views import audit as audit_views
from tenants.models import Role
from tests.factories import PASSWORD
from tests.fixtures import Factories, inspector
from tests.portal.test_sign_in import csrf_token, post_form, sign_in
from tests.test_route_permissions import add_member, sign_in_as

UA = "Mozilla/5.0 (X11; Linux x86_64) KassaTest/1.0"


def events_of(clean: Runtime, tenant_id: str) -> list[AuditEvent]:
    with clean.db.unit_of_work(tenant_id=tenant_id) as uow:
        return list(uow.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


def test_the_screen_shows_who_did_what_when_from_where_and_the_outcome(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    client.environ_base["HTTP_USER_AGENT"] = UA
    post_form(client, "/portal/login", {"email": tenant.owner_email, "password": "not the password"})
    sign_in(client, tenant)
    page = client.get("/portal/audit").get_data(as_text=True)
    assert "<h1>Audit log</h1>" in page
    for column in ("When", "Actor", "Action", "Subject", "Outcome", "Origin"):
        assert f'<th scope="col">{column}</th>' in page
    assert "portal.sign_in.failed" in page and "portal.sign_in" in page and "tenant.created" in page
    assert tenant.owner_email in page and "127.0.0.1" in page and "KassaTest/1.0" in page
    assert ">failure<" in page and ">success<" in page
    signed_in = [e for e in events_of(clean, tenant.id) if e.action == "portal.sign_in"][-1]
    assert signed_in.user_agent == UA and signed_in.origin_ip == "127.0.0.1"
    detail = client.get(f"/portal/audit/{signed_in.id}").get_data(as_text=True)
    assert UA in detail and "second_factor" in detail and signed_in.hash in detail


def test_filters_narrow_the_list_as_a_page_and_as_an_htmx_fragment(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    full = client.get("/portal/audit?action=portal.sign_in").get_data(as_text=True)
    assert "<h1>Audit log</h1>" in full and "tenant.created</code>" not in full
    fragment = client.get(
        f"/portal/audit?actor={tenant.owner_email}&action=portal.sign_in", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert '<div id="audit-rows">' in fragment and "<h1>" not in fragment and "<html" not in fragment
    assert "portal.sign_in</code>" in fragment
    by_subject = client.get(f"/portal/audit?subject={tenant.id}").get_data(as_text=True)
    assert "tenant.created</code>" in by_subject and "portal.sign_in</code>" not in by_subject
    today = clean.clock.now().date().isoformat()
    assert "tenant.created</code>" in client.get(f"/portal/audit?since={today}&until={today}").get_data(
        as_text=True
    )
    empty = client.get("/portal/audit?since=2001-01-01&until=2001-01-02").get_data(as_text=True)
    assert "No audit events match these filters." in empty
    nobody = client.get("/portal/audit?actor=nobody@example.com").get_data(as_text=True)
    assert "No audit events match these filters." in nobody


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("since=yesterday", "Enter a date like 2026-12-01."),
        ("since=2026-12-02&until=2026-12-01", "The start date is after the end date."),
        ("action=made.up", "Choose an action from the list."),
        ("after=pay_123", "Unknown page cursor."),
        ("subject=" + "x" * 65, "At most 64 characters."),
    ],
)
def test_bad_filters_are_form_errors_not_500s(
    client: FlaskClient, make: Factories, query: str, message: str
) -> None:
    sign_in(client, make.tenants())
    response = client.get(f"/portal/audit?{query}")
    assert response.status_code == 400 and message in response.get_data(as_text=True)


def test_pages_follow_the_cursor(
    client: FlaskClient, make: Factories, clean: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    monkeypatch.setattr(audit_views, "PAGE_SIZE", 2)
    seen: list[str] = []
    url: str | None = "/portal/audit"
    while url:
        page = client.get(url).get_data(as_text=True)
        seen += re.findall(r'href="/portal/audit/(aud_[0-9a-z]+)"', page)
        more = re.search(r'href="(/portal/audit\?after=aud_[0-9a-z]+)">Older events', page)
        url = more.group(1).replace("&amp;", "&") if more else None
    ids = [e.id for e in events_of(clean, tenant.id)]
    assert seen == sorted(ids, reverse=True)[: len(seen)] and set(ids) <= set(seen) | {ids[-1]}
    assert len(seen) >= len(ids) - 1  # the page's own view may have added none; every event listed once
    assert len(seen) == len(set(seen))


def test_the_csv_export_streams_the_filtered_events_and_is_audited(
    client: FlaskClient, make: Factories, clean: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.audit import queries

    tenant = make.tenants()
    client.environ_base["HTTP_USER_AGENT"] = '=HYPERLINK("http://evil")'
    sign_in(client, tenant)
    monkeypatch.setattr(queries, "EXPORT_BATCH", 2)  # several batches
    response = client.get("/portal/audit/export.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.is_streamed and "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    recorded = events_of(clean, tenant.id)
    # Every event, newest first: the export's own event too (committed before the body is streamed).
    assert [r["id"] for r in rows] == [e.id for e in reversed(recorded)]
    signed_in = next(r for r in rows if r["action"] == "portal.sign_in")
    assert signed_in["user_agent"].startswith("'=")  # no formula reaches a spreadsheet
    assert recorded[-1].action == "audit.exported"
    filtered = client.get("/portal/audit/export.csv?action=tenant.created")
    assert [r["action"] for r in csv.DictReader(io.StringIO(filtered.get_data(as_text=True)))] == [
        "tenant.created"
    ]


def test_verify_now_records_who_checked_and_shows_a_broken_chain(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    sign_in(client, tenant)
    page = client.get("/portal/audit").get_data(as_text=True)
    assert "This chain has not been verified yet." in page
    response = client.post("/portal/audit/verify", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 303
    page = client.get("/portal/audit").get_data(as_text=True)
    assert "The audit chain is intact" in page and "Chain intact" in page
    assert f"by {tenant.owner_email}" in page
    if clean.db.is_postgres:
        with inspector(clean).begin() as conn:
            conn.execute(
                text("UPDATE audit_events SET action = 'tampered' WHERE tenant_id = :t AND seq = 1"),
                {"t": tenant.id},
            )
        client.post("/portal/audit/verify", data={"csrf_token": csrf_token(page)})
        page = client.get("/portal/audit").get_data(as_text=True)
        assert "The audit chain is broken" in page and "Chain broken (1 problem)" in page
    verified = [e for e in events_of(clean, tenant.id) if e.action == "audit.chain.verified"]
    assert verified and verified[0].actor_id == tenant.owner.id


def test_kassa_audit_verify_is_recorded_like_verify_now_and_shown_as_the_operators(
    app: Flask, client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant, other = make.tenants(), make.tenants()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["audit", "verify", "--tenant", tenant.tenant.slug])
    assert result.exit_code == 0 and f"{tenant.tenant.slug}: ok" in result.output, result.output
    sign_in(client, tenant)
    page = client.get("/portal/audit").get_data(as_text=True)
    assert "Chain intact" in page and "by an operator (<code>kassa audit verify</code>)" in page
    with inspector(clean).begin() as conn:
        rows = conn.execute(
            text("SELECT tenant_id, actor_type, actor_id, ok FROM audit_verifications ORDER BY verified_at")
        ).all()
    assert [tuple(r) for r in rows] == [(tenant.id, "system", "cli", True)]  # only the tenant checked
    verified = [e for e in events_of(clean, tenant.id) if e.action == "audit.chain.verified"]
    assert [(e.actor_type, e.actor_id, e.outcome) for e in verified] == [("system", "cli", "success")]
    if clean.db.is_postgres:
        with inspector(clean).begin() as conn:
            conn.execute(
                text("UPDATE audit_events SET action = 'tampered' WHERE tenant_id = :t AND seq = 1"),
                {"t": tenant.id},
            )
        result = runner.invoke(args=["audit", "verify"])  # every tenant
        assert result.exit_code == 1 and f"{tenant.tenant.slug}: BROKEN" in result.output
        assert f"{other.tenant.slug}: ok" in result.output
        page = client.get("/portal/audit").get_data(as_text=True)
        assert "Chain broken (1 problem)" in page and "kassa audit verify" in page
        verified = [e for e in events_of(clean, tenant.id) if e.action == "audit.chain.verified"]
        assert verified[-1].outcome == "failure"
        assert [e.action for e in events_of(clean, other.id)][-1] == "audit.chain.verified"


def test_another_tenants_event_is_not_found(client: FlaskClient, make: Factories, clean: Runtime) -> None:
    a, b = make.tenants(), make.tenants()
    theirs = events_of(clean, b.id)[0]
    sign_in(client, a)
    assert client.get(f"/portal/audit/{theirs.id}").status_code == 404
    assert client.get("/portal/audit/not-an-id").status_code == 404
    listed = client.get(f"/portal/audit?subject={b.id}").get_data(as_text=True)
    assert theirs.id not in listed and "No audit events match these filters." in listed
    exported = client.get(f"/portal/audit/export.csv?subject={b.id}").get_data(as_text=True)
    assert theirs.id not in exported and b.id not in exported


def test_roles_without_audit_read_get_403_and_no_link(app: Flask, make: Factories, clean: Runtime) -> None:
    tenant = make.tenants()
    email, secret = add_member(clean, tenant, Role.SUPPORT)
    client = app.test_client()
    sign_in_as(client, email, secret)
    assert "Audit log" not in client.get("/portal/").get_data(as_text=True)
    for url in ("/portal/audit", "/portal/audit/export.csv"):
        assert client.get(url).status_code == 403
    page = client.get("/portal/account").get_data(as_text=True)
    assert client.post("/portal/audit/verify", data={"csrf_token": csrf_token(page)}).status_code == 403


def test_an_owner_sees_the_link(client: FlaskClient, make: Factories) -> None:
    sign_in(client, make.tenants())
    assert 'href="/portal/audit"' in client.get("/portal/").get_data(as_text=True)
    assert PASSWORD  # the owner signed in with the factory's password
