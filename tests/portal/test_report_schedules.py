"""Scheduled exports: a member schedules one on the portal (no JavaScript), `kassa cron`'s entry makes the
file, the real worker emails the signed link through a real SMTP server, and the link downloads that one
file only, for its recipient, until it expires; every step audited."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from core.audit import actions
from core.audit.models import AuditEvent
from core.jobs import catalogue
from core.jobs.runtime import Runtime
from core.payments.models import Payment
from core.reports import schedules
from core.reports.models import ReportExportFile, ReportSchedule
from tests.factories import MadeTenant
from tests.fixtures import Factories
from tests.payments_helpers import work
from tests.portal.test_payout_pages import post_form
from tests.portal.test_sign_in import sign_in
from tests.smtp_server import SmtpServer

LINK = re.compile(r"https?://\S+/portal/reports/download/(\S+)")


def _actions(rt: Runtime, tenant: MadeTenant) -> list[str]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        return list(uow.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def _due_now(rt: Runtime, tenant: MadeTenant) -> None:
    """As if the schedule's next run time had come (the cron entry runs every 5 minutes)."""
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        uow.session.execute(
            update(ReportSchedule).values(next_run_at=datetime.now(UTC) - timedelta(minutes=1))
        )


def _run_cron_entry(rt: Runtime, tenant: MadeTenant) -> None:
    """What `kassa cron` does for this entry: enqueue its job for the tenant; the real worker runs it."""
    [entry] = [e for e in catalogue.cron_entries() if e.name == "reports: scheduled exports"]
    assert entry.per_tenant
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        rt.enqueue(uow, entry.job, tenant_id=tenant.id, kwargs={"tenant_id": tenant.id})
    work(rt)


@pytest.fixture
def shop(client: FlaskClient, clean: Runtime, make: Factories) -> MadeTenant:
    tenant = make.tenants()
    make.payments(tenant=tenant, amount=1000, customer_email="ann@example.com")
    make.payments(tenant=tenant, amount=2500)
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:  # both made two days ago
        uow.session.execute(update(Payment).values(created_at=datetime.now(UTC) - timedelta(days=2)))
    sign_in(client, tenant)
    return tenant


def test_a_scheduled_export_is_emailed_as_a_signed_link_that_downloads_only_its_file(
    app: Flask, client: FlaskClient, clean: Runtime, shop: MadeTenant, mail_to_smtp: SmtpServer
) -> None:
    page = client.get("/portal/reports/schedules")
    assert page.status_code == 200 and "No scheduled exports yet." in page.get_data(as_text=True)
    assert "<script" not in page.get_data(as_text=True).split("</header>", 1)[1]
    with clean.db.unit_of_work(tenant_id=shop.id) as uow:
        from tenants.models import User

        owner_id = uow.session.scalar(select(User.id).where(User.email == shop.owner_email))
    response = post_form(
        client,
        "/portal/reports/schedules",
        {"kind": "payments", "period": "last_7_days", "frequency": "daily", "recipients": owner_id},
        page_url="/portal/reports/schedules",
    )
    assert response.status_code == 303
    listed = client.get("/portal/reports/schedules").get_data(as_text=True)
    assert "Payments (CSV)" in listed and shop.owner_email in listed and "06:00 UTC" in listed

    _due_now(clean, shop)
    _run_cron_entry(clean, shop)
    [delivery] = mail_to_smtp.inbox.wait_for(1)
    assert delivery.recipients == [shop.owner_email]
    body = delivery.text("plain")
    match = LINK.search(body)
    assert match is not None, body
    token = match.group(1)
    _run_cron_entry(clean, shop)  # not due again: nothing more is made or sent
    assert len(mail_to_smtp.inbox.wait_for(1)) == 1

    stranger = app.test_client()  # the link works signed out: its signature is the credential
    download = stranger.get(f"/portal/reports/download/{token}")
    assert download.status_code == 200 and download.mimetype == "text/csv"
    assert "attachment" in download.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(download.get_data(as_text=True))))
    assert rows[0][0] == "id" and sorted(int(r[rows[0].index("amount_minor")]) for r in rows[1:]) == [
        1000,
        2500,
    ]
    with clean.db.unit_of_work(tenant_id=shop.id) as uow:
        made = uow.session.scalar(select(ReportExportFile))
        assert made is not None and made.end == date.today() - timedelta(days=1)
        assert (made.end - made.start).days == 6

    # Only that file: a changed token, another file's id under the same signature, or an expired one fail.
    assert stranger.get(f"/portal/reports/download/{token[:-2]}xx").status_code == 404
    with clean.db.unit_of_work(tenant_id=shop.id) as uow:
        made = uow.session.scalar(select(ReportExportFile))
        assert made is not None
        other = ReportExportFile(
            id="rexp_other",
            schedule_id=made.schedule_id,
            livemode=False,
            kind="payments",
            start=made.start,
            end=made.end,
            created_at=made.created_at,
            expires_at=made.created_at - timedelta(seconds=1),
        )
        other.tenant_id = shop.id
        uow.session.add(other)
        uow.session.flush()
        expired = schedules.sign(clean.settings.secret_key, other, user_id=owner_id)
        forged = schedules.sign("not-our-secret-key", made, user_id=owner_id)
    gone = stranger.get(f"/portal/reports/download/{expired}")
    assert gone.status_code == 404 and "expired" in gone.get_data(as_text=True)
    assert stranger.get(f"/portal/reports/download/{forged}").status_code == 404
    done = _actions(clean, shop)
    for action in (
        actions.REPORT_SCHEDULE_CREATED,
        actions.REPORT_SCHEDULED_EXPORT_PRODUCED,
        actions.REPORT_EXPORT_EMAILED,
        actions.REPORT_EXPORT_DOWNLOADED,
    ):
        assert action in done
    assert done.count(actions.REPORT_EXPORT_DOWNLOADED) == 1


def test_a_former_reader_gets_no_email_and_their_link_stops_working(
    app: Flask, client: FlaskClient, clean: Runtime, shop: MadeTenant, mail_to_smtp: SmtpServer
) -> None:
    from tenants.models import Membership, User

    with clean.db.unit_of_work(tenant_id=shop.id) as uow:
        owner_id = uow.session.scalar(select(User.id).where(User.email == shop.owner_email))
    post_form(
        client,
        "/portal/reports/schedules",
        {"kind": "journal", "period": "previous", "frequency": "monthly", "recipients": owner_id},
        page_url="/portal/reports/schedules",
    )
    _due_now(clean, shop)
    _run_cron_entry(clean, shop)
    [delivery] = mail_to_smtp.inbox.wait_for(1)
    match = LINK.search(delivery.text("plain"))
    assert match is not None
    with clean.db.unit_of_work(tenant_id=shop.id) as uow:
        uow.session.execute(update(Membership).values(role="viewer"))  # may no longer read reports
    assert app.test_client().get(f"/portal/reports/download/{match.group(1)}").status_code == 404


def test_the_form_refuses_what_it_does_not_offer(
    client: FlaskClient, clean: Runtime, shop: MadeTenant
) -> None:
    bad = post_form(
        client,
        "/portal/reports/schedules",
        {"kind": "payments", "period": "last_7_days", "frequency": "daily", "recipients": "usr_someone_else"},
        page_url="/portal/reports/schedules",
    )
    assert bad.status_code == 303
    page = client.get("/portal/reports/schedules").get_data(as_text=True)
    assert "Recipients must be members of the team who may read reports." in page
    none = post_form(
        client,
        "/portal/reports/schedules",
        {"kind": "payments", "period": "last_7_days", "frequency": "hourly"},
        page_url="/portal/reports/schedules",
    )
    assert none.status_code == 400 and "Not a valid choice" in none.get_data(as_text=True)
    with clean.db.unit_of_work(tenant_id=shop.id) as uow:
        assert uow.session.scalar(select(ReportSchedule)) is None


def test_removing_a_schedule_is_audited_and_stops_it(
    client: FlaskClient, clean: Runtime, shop: MadeTenant
) -> None:
    from tenants.models import User

    with clean.db.unit_of_work(tenant_id=shop.id) as uow:
        owner_id = uow.session.scalar(select(User.id).where(User.email == shop.owner_email))
    post_form(
        client,
        "/portal/reports/schedules",
        {"kind": "xero", "period": "previous", "frequency": "weekly", "recipients": owner_id},
        page_url="/portal/reports/schedules",
    )
    with clean.db.unit_of_work(tenant_id=shop.id) as uow:
        schedule = uow.session.scalar(select(ReportSchedule))
        assert schedule is not None and schedule.next_run_at.weekday() == 0
        schedule_id = schedule.id
    response = post_form(
        client, f"/portal/reports/schedules/{schedule_id}/delete", {}, page_url="/portal/reports/schedules"
    )
    assert response.status_code == 303
    assert "No scheduled exports yet." in client.get("/portal/reports/schedules").get_data(as_text=True)
    assert actions.REPORT_SCHEDULE_DELETED in _actions(clean, shop)
    again = post_form(
        client, f"/portal/reports/schedules/{schedule_id}/delete", {}, page_url="/portal/reports/schedules"
    )
    assert again.status_code == 404


def test_periods_and_run_times() -> None:
    monday = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    assert schedules.next_run(datetime(2026, 11, 29, 12, 0, tzinfo=UTC), "weekly") == monday
    assert schedules.next_run(monday, "daily") == monday + timedelta(days=1)
    assert schedules.next_run(monday, "monthly") == datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    assert schedules.covered("weekly", "previous", date(2026, 11, 30)) == (
        date(2026, 11, 23),
        date(2026, 11, 29),
    )
    assert schedules.covered("monthly", "previous", date(2026, 12, 1)) == (
        date(2026, 11, 1),
        date(2026, 11, 30),
    )
    assert schedules.covered("daily", "previous", date(2026, 12, 1)) == (
        date(2026, 11, 30),
        date(2026, 11, 30),
    )
    assert schedules.covered("daily", "last_30_days", date(2026, 12, 1))[0] == date(2026, 11, 1)
