"""The notification center: events -> subscriber -> notifications for the right members -> emails through
the outbox and the real worker to a real SMTP server; alerts from the payments tables, time moved by the
clock; preferences and read state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core import events
from core.audit.models import AuditEvent
from core.clock import FrozenClock
from core.context import Actor, ActorType, Context
from core.events import EventType
from core.ids import new_id
from core.jobs.runtime import Runtime
from core.notifications import alerts, service
from core.notifications.jobs import detect_alerts, notify_from_event, sweep_notification_emails
from core.notifications.kinds import AUDIENCE, KINDS, Kind
from core.notifications.models import EmailStatus, Notification, NotificationRecipient
from tenants.models import Role
from tenants.permissions import ROLE_PERMISSIONS, Permission
from tenants.service import create_user
from tests.factories import MadeTenant
from tests.fixtures import Factories
from tests.payments_helpers import work
from tests.smtp_server import SmtpServer

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def clock(clean: Runtime, monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    frozen = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    monkeypatch.setattr(clean, "clock", frozen)
    return frozen


def member(rt: Runtime, tenant: MadeTenant, role: str, email: str) -> str:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        user = create_user(
            uow.session,
            rt.context(uow, Actor.system("test")),
            tenant_id=tenant.id,
            email=email,
            role=role,
            password="correct horse battery staple",
            totp_secret=None,
        )
        return user.id


@dataclass(frozen=True)
class Subject:
    """What an event is about, as its emitter holds it (a payout, an endpoint, a dispute of the helpers
    that build them): an id, its tenant and its mode."""

    id: str
    tenant_id: str
    livemode: bool


def emit(rt: Runtime, tenant: MadeTenant, type: str, data: dict[str, Any], *, livemode: bool = False) -> str:
    """An event as its emitter writes it: `emit` queues the declared subscribers' jobs (ours among them)."""
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        event = events.emit(
            uow.session,
            rt.context(uow, Actor.system("test")),
            EventType(type),
            subject=Subject(str(data["id"]), tenant.id, livemode),
            data=data,
        )
        return event.id


def recipients(rt: Runtime, tenant: MadeTenant) -> list[NotificationRecipient]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        return list(
            uow.session.scalars(select(NotificationRecipient).order_by(NotificationRecipient.user_id))
        )


def notifications(rt: Runtime, tenant: MadeTenant) -> list[Notification]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        return list(
            uow.session.scalars(select(Notification).order_by(Notification.created_at, Notification.id))
        )


def ctx_for(rt: Runtime, uow: Any, user_id: str) -> Context:
    return rt.context(uow, Actor(ActorType.USER, user_id))


PAYOUT = {
    "object": "payout",
    "id": "po_01testpayout",
    "amount": 12050,
    "currency": "EUR",
    "status": "failed",
    "failure_code": "account_closed",
    "failure_message": "the bank account is closed",
}


def test_the_audience_table_agrees_with_the_roles() -> None:
    for info in KINDS.values():
        permission = Permission(info.permission)
        holders = {str(role) for role, held in ROLE_PERMISSIONS.items() if permission in held}
        assert AUDIENCE[info.permission] == holders, info.kind
    assert {str(r) for r in Role} >= set().union(*AUDIENCE.values())


def test_a_failed_payout_notifies_the_members_who_see_payouts_and_emails_them(
    make: Factories, clean: Runtime, mail_to_smtp: SmtpServer
) -> None:
    tenant = make.tenants(name="Tea & Cake")
    analyst = member(clean, tenant, "analyst", "ana@tea.example")
    member(clean, tenant, "support", "sam@tea.example")  # support does not see payouts
    other = make.tenants()
    event_id = emit(clean, tenant, "payout.failed", PAYOUT)
    work(clean)

    [made] = notifications(clean, tenant)
    assert made.kind is Kind.PAYOUT_FAILED and made.dedup_key == f"event:{event_id}"
    assert made.title == "Payout po_01testpayout failed (test mode)"
    assert "€120.50" in made.body and "the bank account is closed" in made.body
    got = recipients(clean, tenant)
    assert {r.user_id for r in got} == {tenant.owner.id, analyst}
    assert all(r.email_status is EmailStatus.SENT and r.read_at is None for r in got)
    assert notifications(clean, other) == []

    deliveries = mail_to_smtp.inbox.wait_for(2)
    assert sorted(d.recipients[0] for d in deliveries) == sorted(["ana@tea.example", tenant.owner_email])
    message = deliveries[0].message
    assert message["Subject"] == "[Kassa test mode] Payout po_01testpayout failed (test mode)"
    assert "€120.50" in deliveries[0].text("plain") and "/portal/notifications/preferences" in deliveries[
        0
    ].text("html")

    # The job runs again (a relay that enqueued twice): nothing more is notified or sent.
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        clean.enqueue(
            uow, notify_from_event, tenant_id=tenant.id, kwargs={"tenant_id": tenant.id, "event_id": event_id}
        )
    work(clean)
    assert len(notifications(clean, tenant)) == 1 and len(mail_to_smtp.inbox.deliveries) == 2


def test_a_failing_webhook_endpoint_notifies_who_manages_webhooks(make: Factories, clean: Runtime) -> None:
    tenant = make.tenants()
    developer = member(clean, tenant, "developer", "dev@shop.example")
    member(clean, tenant, "analyst", "ana@shop.example")
    endpoint = {
        "object": "webhook_endpoint",
        "id": "we_01failing",
        "url": "https://shop.example/hooks",
        "status": "failing",
    }
    emit(clean, tenant, "webhook_endpoint.failing", endpoint)
    work(clean)
    [made] = notifications(clean, tenant)
    assert made.kind is Kind.WEBHOOK_ENDPOINT_FAILING and "https://shop.example/hooks" in made.title
    assert {r.user_id for r in recipients(clean, tenant)} == {tenant.owner.id, developer}


def test_an_event_of_another_type_notifies_nobody(make: Factories, clean: Runtime) -> None:
    tenant = make.tenants()
    payment = make.payments(tenant=tenant, via="service")
    event_id = emit(clean, tenant, "payment.succeeded", {"object": "payment", "id": payment.id})
    work(clean)
    # Not declared for payment.succeeded, and handed one anyway (a mis-declaration), it does nothing.
    assert notify_from_event(tenant_id=tenant.id, event_id=event_id) is None
    assert notifications(clean, tenant) == []


def test_preferences_choose_the_channels_per_kind(
    make: Factories, clean: Runtime, mail_to_smtp: SmtpServer
) -> None:
    tenant = make.tenants()
    owner = tenant.owner.id
    permissions = frozenset(p.value for p in ROLE_PERMISSIONS[Role.OWNER])
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        chosen = service.set_preferences(
            uow.session,
            ctx_for(clean, uow, owner),
            tenant_id=tenant.id,
            user_id=owner,
            permissions=permissions,
            choices={Kind.PAYOUT_FAILED: (True, False), Kind.DISPUTE_CREATED: (False, False)},
        )
    assert {(p.kind, p.portal, p.email) for p in chosen} >= {
        (Kind.PAYOUT_FAILED, True, False),
        (Kind.DISPUTE_CREATED, False, False),
        (Kind.APPROVAL_RATE_LOW, True, True),
    }
    emit(clean, tenant, "payout.failed", PAYOUT)
    emit(
        clean,
        tenant,
        "dispute.created",
        {
            "object": "dispute",
            "id": "dp_01x",
            "payment": "pay_01x",
            "amount": 500,
            "currency": "EUR",
            "reason": "fraudulent",
        },
    )
    work(clean)
    [payout_copy] = recipients(clean, tenant)  # the dispute reached nobody: both channels are off
    assert payout_copy.portal and payout_copy.email_status is EmailStatus.OFF
    assert mail_to_smtp.inbox.deliveries == []
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        audited = uow.session.scalars(select(AuditEvent.action)).all()
    assert "notification.preferences.updated" in audited


def test_a_viewer_may_not_choose_a_kind_they_cannot_receive(make: Factories, clean: Runtime) -> None:
    from core.errors import InvalidInput

    tenant = make.tenants()
    viewer = member(clean, tenant, "viewer", "vi@shop.example")
    permissions = frozenset(p.value for p in ROLE_PERMISSIONS[Role.VIEWER])
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        kinds = {p.kind for p in service.preferences(uow.session, user_id=viewer, permissions=permissions)}
        assert Kind.PAYOUT_FAILED not in kinds and Kind.APPROVAL_RATE_LOW in kinds
        with pytest.raises(InvalidInput):
            service.set_preferences(
                uow.session,
                ctx_for(clean, uow, viewer),
                tenant_id=tenant.id,
                user_id=viewer,
                permissions=permissions,
                choices={Kind.PAYOUT_FAILED: (False, False)},
            )


def test_reading_marks_one_member_copy_only(make: Factories, clean: Runtime) -> None:
    tenant = make.tenants()
    analyst = member(clean, tenant, "analyst", "ana@shop.example")
    emit(clean, tenant, "payout.failed", PAYOUT)
    emit(clean, tenant, "payout.failed", {**PAYOUT, "id": "po_01second"})
    work(clean)
    owner = tenant.owner.id
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        assert service.unread_count(uow.session, user_id=owner) == 2
        newest = service.inbox(uow.session, user_id=owner).items[0]
        assert newest.notification.title.startswith("Payout po_01second")
        service.mark_read(uow.session, ctx_for(clean, uow, owner), user_id=owner, recipient_id=newest.id)
        assert service.unread_count(uow.session, user_id=owner) == 1
        assert service.unread_count(uow.session, user_id=analyst) == 2
        from core.errors import NotFound

        with pytest.raises(NotFound):  # another member's copy is not theirs to read
            theirs = service.inbox(uow.session, user_id=analyst).items[0]
            service.mark_read(uow.session, ctx_for(clean, uow, owner), user_id=owner, recipient_id=theirs.id)
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        assert (
            service.mark_all_read(uow.session, ctx_for(clean, uow, owner), tenant_id=tenant.id, user_id=owner)
            == 1
        )
        assert service.unread_count(uow.session, user_id=owner) == 0
        assert service.unread_count(uow.session, user_id=analyst) == 2


# -- alerts -----------------------------------------------------------------------------------------------

RISK_BLOCKED_CARD = "4100 0000 0000 0019"
DECLINED_CARD = "4000 0000 0000 0002"
FLAKY_CARD = "4000 0000 0000 0119"


def pay(make: Factories, tenant: MadeTenant, card: str, expect: str) -> None:
    make.payments(tenant=tenant, card_number=card, via="service", expect=expect)


def run_checks(rt: Runtime, tenant: MadeTenant) -> int:
    return detect_alerts(tenant_id=tenant.id)


def test_a_spike_of_risk_blocks_alerts_once_per_cooldown(
    make: Factories, clean: Runtime, clock: FrozenClock
) -> None:
    tenant = make.tenants()
    # Yesterday: a few blocks over the day, the normal background.
    clock.advance(hours=-20)
    for _ in range(2):
        pay(make, tenant, RISK_BLOCKED_CARD, "failed")
    clock.advance(hours=20)
    assert run_checks(clean, tenant) == 0
    for _ in range(5):
        pay(make, tenant, RISK_BLOCKED_CARD, "failed")
    assert run_checks(clean, tenant) == 1
    [alert] = notifications(clean, tenant)
    assert (
        alert.kind is Kind.RISK_BLOCKS_SPIKE
        and alert.data["count"] == 5
        and alert.data["baseline_count"] == 2
    )
    assert alert.title == "Risk blocks are spiking: 5 in 15 minutes (test mode)"

    # Still spiking ten minutes later: within the cooldown, no second alert.
    clock.advance(minutes=10)
    pay(make, tenant, RISK_BLOCKED_CARD, "failed")
    assert run_checks(clean, tenant) == 0
    # Two hours later the window is quiet: nothing to say either.
    clock.advance(hours=2)
    assert run_checks(clean, tenant) == 0
    assert len(notifications(clean, tenant)) == 1


def test_a_spike_is_measured_against_the_baseline_rate(
    make: Factories, clean: Runtime, clock: FrozenClock
) -> None:
    tenant = make.tenants()
    clock.advance(hours=-1)
    for _ in range(6):
        pay(make, tenant, RISK_BLOCKED_CARD, "failed")
    clock.advance(hours=1)
    for _ in range(5):
        pay(make, tenant, RISK_BLOCKED_CARD, "failed")
    # With a one-hour baseline, 6 blocks in it predict 1.5 in a 15-minute window: 5 is more than 3 times
    # that (a spike), and less than 4 times.
    thresholds = alerts.Thresholds(spike_min_count=5, spike_factor=3.0, baseline_hours=1)
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        found = alerts.findings(uow.session, now=clock.now(), livemode=False, thresholds=thresholds)
        assert [f.kind for f in found] == [Kind.RISK_BLOCKS_SPIKE]
        strict = alerts.Thresholds(spike_min_count=5, spike_factor=4.0, baseline_hours=1)
        assert alerts.findings(uow.session, now=clock.now(), livemode=False, thresholds=strict) == []


def test_an_approval_rate_below_the_threshold_alerts(
    make: Factories, clean: Runtime, clock: FrozenClock
) -> None:
    tenant = make.tenants()
    for _ in range(4):
        pay(make, tenant, "4242 4242 4242 4242", "succeeded")
    for _ in range(5):
        pay(make, tenant, DECLINED_CARD, "failed")
    # 4 of 9: below 60 %, but fewer than 10 decided payments is not news yet.
    assert run_checks(clean, tenant) == 0
    pay(make, tenant, DECLINED_CARD, "failed")
    pay(make, tenant, RISK_BLOCKED_CARD, "failed")  # a risk block is not a decline here
    assert run_checks(clean, tenant) == 1
    [alert] = notifications(clean, tenant)
    assert alert.kind is Kind.APPROVAL_RATE_LOW
    assert alert.data["approved"] == 4 and alert.data["decided"] == 10 and alert.data["approval_rate"] == 0.4
    # Sixteen minutes on, the window has moved past those payments.
    clock.advance(minutes=16)
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        assert (
            alerts.findings(uow.session, now=clock.now(), livemode=False, thresholds=alerts.Thresholds())
            == []
        )


def test_processor_errors_spiking_alert(make: Factories, clean: Runtime, clock: FrozenClock) -> None:
    tenant = make.tenants()
    thresholds = alerts.Thresholds(spike_min_count=3)
    for _ in range(3):
        make.payments(tenant=tenant, card_number=FLAKY_CARD, via="service", expect="pending")
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        found = alerts.findings(uow.session, now=clock.now(), livemode=False, thresholds=thresholds)
        assert [f.kind for f in found] == [Kind.PROCESSOR_ERRORS_SPIKE]
        assert found[0].data["count"] == 3


def test_thresholds_come_from_the_environment() -> None:
    from core.errors import InvalidInput

    chosen = alerts.Thresholds.from_env(
        {"KASSA_ALERT_APPROVAL_RATE_MIN": "0.8", "KASSA_ALERT_WINDOW_MINUTES": "30"}
    )
    assert chosen.approval_rate_min == 0.8 and chosen.window == timedelta(minutes=30)
    assert alerts.Thresholds.from_env({}) == alerts.Thresholds()
    with pytest.raises(InvalidInput):
        alerts.Thresholds.from_env({"KASSA_ALERT_APPROVAL_RATE_MIN": "1.5"})
    with pytest.raises(InvalidInput):
        alerts.Thresholds.from_env({"KASSA_ALERT_SPIKE_FACTOR": "lots"})


def test_the_dedup_key_makes_a_concurrent_second_run_a_no_op(make: Factories, clean: Runtime) -> None:
    tenant = make.tenants()
    key = f"test:{new_id('evt')}"
    for _ in range(2):
        with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
            service.notify(
                uow.session,
                ctx_for(clean, uow, tenant.owner.id),
                tenant_id=tenant.id,
                kind=Kind.DISPUTE_CREATED,
                title="t",
                body="b",
                dedup_key=key,
                livemode=False,
            )
    assert len(notifications(clean, tenant)) == 1


def test_an_unreachable_mail_server_is_tried_again_later_through_the_outbox(
    make: Factories, clean: Runtime, mail_to_smtp: SmtpServer, clock: FrozenClock
) -> None:
    tenant = make.tenants()
    mail_to_smtp.stop()
    emit(clean, tenant, "payout.failed", PAYOUT)
    work(clean)
    [copy] = recipients(clean, tenant)
    assert copy.email_status is EmailStatus.QUEUED and copy.email_attempts == 1
    assert copy.last_error and "unreachable" in copy.last_error
    assert copy.read_at is None and copy.portal  # the bell has it all the same

    mail_to_smtp.start()
    clock.advance(seconds=31)  # the first back-off is 30 s: the outbox row falls due, no sleeping
    work(clean)
    [copy] = recipients(clean, tenant)
    assert copy.email_status is EmailStatus.SENT and copy.email_attempts == 2
    [delivery] = mail_to_smtp.inbox.wait_for(1)
    assert delivery.recipients == [tenant.owner_email]
    assert delivery.message["Message-ID"] == f"<{copy.id}@kassa>"


def test_a_notification_email_whose_job_was_lost_is_sent_by_the_sweeper(
    make: Factories, clean: Runtime, mail_to_smtp: SmtpServer, clock: FrozenClock
) -> None:
    tenant = make.tenants()
    event_id = emit(clean, tenant, "payout.failed", PAYOUT)
    notify_from_event(tenant_id=tenant.id, event_id=event_id)  # its commit hands the send job to RQ ...
    clean.redis.flushdb()  # ... which loses it (and the subscriber's job): the outbox rows are delivered
    work(clean)
    [copy] = recipients(clean, tenant)
    assert copy.email_status is EmailStatus.QUEUED and mail_to_smtp.inbox.deliveries == []
    assert sweep_notification_emails() == 0  # not overdue yet: a slow job is not a lost one
    clock.advance(minutes=3)
    assert sweep_notification_emails() == 1
    work(clean)
    [copy] = recipients(clean, tenant)
    assert copy.email_status is EmailStatus.SENT and copy.next_email_at is None
    [delivery] = mail_to_smtp.inbox.wait_for(1)
    assert delivery.message["Message-ID"] == f"<{copy.id}@kassa>"
    clock.advance(minutes=3)
    assert sweep_notification_emails() == 0  # sent: nothing to queue again
    work(clean)
    assert len(mail_to_smtp.inbox.deliveries) == 1
