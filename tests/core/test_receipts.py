"""Emailed receipts end to end: a paid checkout -> the outbox -> the real worker -> a real SMTP server."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from core.audit import actions
from core.audit.models import AuditEvent
from core.clock import FrozenClock
from core.context import Actor
from core.events import EventType
from core.events.models import Event
from core.jobs.outbox import OutboxMessage
from core.jobs.runtime import Runtime
from core.mail import MailUnavailable
from core.receipts import service as receipts
from core.receipts.jobs import on_event, send_receipt, sweep_receipts
from core.receipts.models import Receipt, ReceiptStatus
from tests.factories import MadeTenant
from tests.fixtures import Factories, inspector
from tests.payments_helpers import confirm, create_session, work, work_until_settled
from tests.smtp_server import Delivery, SmtpServer, free_port

RECEIPT_JOB = "core.receipts.jobs.on_event"
PAN = "4242 4242 4242 4242"
CVC = "737"
SHOPPER_EMAIL = "ada.lovelace@example.com"


def pay(client: FlaskClient, rt: Runtime, tenant: MadeTenant, **session: object) -> str:
    """A checkout paid with the 4242 card through the real worker; the payment id."""
    cs = create_session(client, tenant, **session)
    payment_id = confirm(rt, tenant, cs["id"], card_number=PAN, cvc=CVC)
    assert str(work_until_settled(rt, tenant, payment_id).status) == "succeeded"
    return payment_id


def receipts_of(rt: Runtime, tenant: MadeTenant, payment_id: str) -> list[Receipt]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        return receipts.of_payment(uow.session, payment_id=payment_id)


def audit_actions(rt: Runtime, tenant: MadeTenant) -> list[str]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        return list(uow.session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def kassa_logs(caplog: pytest.LogCaptureFixture) -> str:
    """Everything logged but by the test's SMTP server (aiosmtpd's `mail.log`: the receiving side)."""
    return "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail.log"))


def assert_no_card_data(delivery: Delivery) -> None:
    """Neither the PAN (in any spacing) nor its first six digits nor the CVC, in the wire bytes or in the
    decoded parts (a base64 part would hide them from a look at the raw bytes alone)."""
    texts = [delivery.raw.decode("ascii", errors="replace"), delivery.text("plain"), delivery.text("html")]
    for text in texts:
        digits_only = re.sub(r"[\s=-]", "", text)
        assert PAN.replace(" ", "") not in digits_only
        assert PAN not in text and "424242" not in text
        assert not re.search(rf"(?<!\d){CVC}(?!\d)", text)


def test_a_paid_checkout_with_an_email_sends_one_receipt(
    client: FlaskClient, make: Factories, clean: Runtime, mail_to_smtp: SmtpServer
) -> None:
    tenant = make.tenants(name="Tea & Cake")
    payment_id = pay(client, clean, tenant, customer_email=SHOPPER_EMAIL, reference="order-1042")
    work(clean)  # anything left over runs too: still one message

    [delivery] = mail_to_smtp.inbox.wait_for(1)
    message = delivery.message
    assert delivery.recipients == [SHOPPER_EMAIL] and message["To"] == SHOPPER_EMAIL
    assert message["From"] == clean.settings.mail_from
    assert message["Subject"] == "[Test mode] Your receipt from Tea & Cake"
    assert message.get_content_type() == "multipart/alternative"
    plain, page = delivery.text("plain"), delivery.text("html")
    for text in (plain, page):
        assert "€25.00" in text and "Visa ···· 4242" in text and payment_id in text
        assert "order-1042" in text and "Payment successful" in text
    assert "Tea &amp; Cake" in page  # escaped in HTML, as is in the plain part
    assert_no_card_data(delivery)
    [receipt] = receipts_of(clean, tenant, payment_id)
    assert receipt.status is ReceiptStatus.SENT and receipt.attempts == 1 and receipt.sent_at is not None
    assert message["Message-ID"] == receipt.message_id == f"<{receipt.id}@kassa>"
    assert actions.RECEIPT_QUEUED in audit_actions(clean, tenant)
    assert actions.RECEIPT_SENT in audit_actions(clean, tenant)


def test_running_the_job_again_sends_nothing_more(
    client: FlaskClient, make: Factories, clean: Runtime, mail_to_smtp: SmtpServer
) -> None:
    tenant = make.tenants()
    payment_id = pay(client, clean, tenant, customer_email=SHOPPER_EMAIL)
    [receipt] = receipts_of(clean, tenant, payment_id)
    assert send_receipt(tenant.id, receipt.id) == "sent"
    assert send_receipt(tenant.id, receipt.id) == "sent"
    assert len(mail_to_smtp.inbox.wait_for(2, timeout=0.5)) == 1


def test_the_completed_checkout_hand_over_run_again_queues_no_second_receipt(
    client: FlaskClient, make: Factories, clean: Runtime, mail_to_smtp: SmtpServer
) -> None:
    # Receipts subscribe to checkout.session.completed (core/events/subscribers.py): the completing
    # transaction's outbox names their job with the event; the outbox delivers at least once, so the job
    # may run twice.
    tenant = make.tenants()
    payment_id = pay(client, clean, tenant, customer_email=SHOPPER_EMAIL)
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        [handed_over] = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.job == RECEIPT_JOB))
        kwargs = dict(handed_over.kwargs)
        event = uow.session.get(Event, (tenant.id, kwargs["event_id"]))
        assert event is not None and event.type == EventType.CHECKOUT_SESSION_COMPLETED
    [receipt] = receipts_of(clean, tenant, payment_id)
    assert receipt.id == "rcpt_" + event.id.partition("_")[2]
    assert on_event(**kwargs) == receipt.id
    work(clean)
    assert [r.id for r in receipts_of(clean, tenant, payment_id)] == [receipt.id]
    assert len(mail_to_smtp.inbox.wait_for(2, timeout=0.5)) == 1
    assert audit_actions(clean, tenant).count(actions.RECEIPT_QUEUED) == 1


def test_without_an_email_no_receipt_is_queued(
    client: FlaskClient, make: Factories, clean: Runtime, mail_to_smtp: SmtpServer
) -> None:
    tenant = make.tenants()
    payment_id = pay(client, clean, tenant)
    assert receipts_of(clean, tenant, payment_id) == []
    assert mail_to_smtp.inbox.wait_for(1, timeout=0.3) == []


def test_a_german_session_gets_a_german_email(
    client: FlaskClient, make: Factories, clean: Runtime, mail_to_smtp: SmtpServer
) -> None:
    tenant = make.tenants(name="Kaffeerösterei")
    pay(client, clean, tenant, customer_email=SHOPPER_EMAIL, locale="de")
    [delivery] = mail_to_smtp.inbox.wait_for(1)
    assert delivery.message["Subject"] == "[Testmodus] Ihre Quittung von Kaffeerösterei"
    assert delivery.message["Content-Language"] == "de"
    plain = delivery.text("plain")
    assert "Zahlung erfolgreich" in plain and "Betrag: 25,00\u00a0€" in plain
    assert "Vielen Dank für Ihre Zahlung an Kaffeerösterei." in plain
    assert "Payment successful" not in plain and "Amount" not in plain


def test_while_the_smtp_server_is_down_the_receipt_waits_then_a_retry_delivers_it(
    client: FlaskClient, make: Factories, clean: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = SmtpServer(free_port())  # not started: connections to its port are refused
    monkeypatch.setattr(clean, "settings", clean.settings.with_changes(mail_url=server.url))
    tenant = make.tenants()
    payment_id = pay(client, clean, tenant, customer_email=SHOPPER_EMAIL)  # the worker's first try fails

    [receipt] = receipts_of(clean, tenant, payment_id)
    assert (receipt.status, receipt.attempts) == (ReceiptStatus.QUEUED, 1)
    assert receipt.last_error and "unreachable" in receipt.last_error
    with pytest.raises(MailUnavailable):
        send_receipt(tenant.id, receipt.id)
    [receipt] = receipts_of(clean, tenant, payment_id)
    assert (receipt.status, receipt.attempts) == (ReceiptStatus.QUEUED, 2)
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        waiting = uow.session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.job == receipts.SEND_JOB, OutboxMessage.delivered_at.is_(None)
            )
        ).all()
    assert len(waiting) == 2 and all(m.available_at > datetime.now(UTC) for m in waiting)

    server.start()
    try:
        # The back-off has passed: the relay hands the delayed tries to RQ and the worker runs them.
        monkeypatch.setattr(clean, "clock", FrozenClock(datetime.now(UTC) + timedelta(minutes=3)))
        work(clean)
        [delivery] = server.inbox.wait_for(1)
    finally:
        server.stop()
    assert delivery.recipients == [SHOPPER_EMAIL]
    [receipt] = receipts_of(clean, tenant, payment_id)
    assert receipt.status is ReceiptStatus.SENT and receipt.attempts == 3 and receipt.last_error is None


def test_after_the_last_try_the_receipt_fails_and_the_audit_trail_says_so(
    client: FlaskClient, make: Factories, clean: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        clean, "settings", clean.settings.with_changes(mail_url=f"smtp://127.0.0.1:{free_port()}")
    )
    tenant = make.tenants()
    payment_id = pay(client, clean, tenant, customer_email=SHOPPER_EMAIL)
    [receipt] = receipts_of(clean, tenant, payment_id)
    for _ in range(len(receipts.RETRY_DELAYS)):
        with pytest.raises(MailUnavailable):
            send_receipt(tenant.id, receipt.id)
    [receipt] = receipts_of(clean, tenant, payment_id)
    assert receipt.status is ReceiptStatus.FAILED and receipt.attempts == len(receipts.RETRY_DELAYS) + 1
    assert actions.RECEIPT_FAILED in audit_actions(clean, tenant)
    assert send_receipt(tenant.id, receipt.id) == "failed"  # a late duplicate of a try changes nothing


def test_a_refused_address_fails_at_once_and_logs_only_a_masked_address(
    client: FlaskClient,
    make: Factories,
    clean: Runtime,
    mail_to_smtp: SmtpServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    mail_to_smtp.inbox.refuse.add(SHOPPER_EMAIL)
    tenant = make.tenants()
    with caplog.at_level(logging.INFO):
        payment_id = pay(client, clean, tenant, customer_email=SHOPPER_EMAIL)
    [receipt] = receipts_of(clean, tenant, payment_id)
    assert (receipt.status, receipt.attempts) == (ReceiptStatus.FAILED, 1)
    assert receipt.last_error == "recipient refused (550)"
    logged = kassa_logs(caplog)
    assert "a***@example.com" in logged
    assert SHOPPER_EMAIL not in logged


def test_the_worker_logs_a_sent_receipt_with_a_masked_address(
    client: FlaskClient,
    make: Factories,
    clean: Runtime,
    mail_to_smtp: SmtpServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tenant = make.tenants()
    with caplog.at_level(logging.INFO, logger="core.receipts"):
        pay(client, clean, tenant, customer_email=SHOPPER_EMAIL)
    assert len(mail_to_smtp.inbox.wait_for(1)) == 1
    logged = kassa_logs(caplog)
    assert "sent to a***@example.com" in logged and SHOPPER_EMAIL not in logged


def test_a_crash_after_the_server_took_the_message_resends_it_with_the_same_message_id(
    client: FlaskClient, make: Factories, clean: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = SmtpServer(free_port())
    monkeypatch.setattr(clean, "settings", clean.settings.with_changes(mail_url=server.url))
    tenant = make.tenants()
    payment_id = pay(client, clean, tenant, customer_email=SHOPPER_EMAIL)  # first try: server down
    [receipt] = receipts_of(clean, tenant, payment_id)
    server.start()
    try:
        # A worker sends, then dies before its commit; its job and the scheduled retry are lost too.
        with pytest.raises(RuntimeError), clean.db.unit_of_work(tenant_id=tenant.id) as uow:
            receipts.send(
                uow.session,
                clean.context(uow, Actor.system("worker")),
                receipt_id=receipt.id,
                mailer=clean.mailer(),
                sender=clean.settings.mail_from,
            )
            raise RuntimeError("worker killed before its commit")
        with inspector(clean).begin() as conn:
            conn.execute(OutboxMessage.__table__.delete().where(OutboxMessage.job == receipts.SEND_JOB))
        assert receipts_of(clean, tenant, payment_id)[0].status is ReceiptStatus.QUEUED

        monkeypatch.setattr(clean, "clock", FrozenClock(datetime.now(UTC) + timedelta(minutes=10)))
        assert sweep_receipts() == 1
        work(clean)
        first, second = server.inbox.wait_for(2)
    finally:
        server.stop()
    assert first.message["Message-ID"] == second.message["Message-ID"] == receipt.message_id
    assert receipts_of(clean, tenant, payment_id)[0].status is ReceiptStatus.SENT
    assert sweep_receipts() == 0
