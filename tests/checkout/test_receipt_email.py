"""The receipt page's "Email me a receipt": a plain form post (no JavaScript), on /pay and /embed alike."""

from __future__ import annotations

import html
import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from core.jobs.outbox import OutboxMessage
from core.jobs.runtime import Runtime
from core.receipts import service as receipts
from core.receipts.models import Receipt
from tests.checkout.test_embed import SHOP, allow, embed_script
from tests.factories import MadeTenant
from tests.fixtures import Factories, inspector
from tests.payments_helpers import confirm, create_session, work, work_until_settled
from tests.smtp_server import SmtpServer, free_port

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def paid_session(client: FlaskClient, rt: Runtime, tenant: MadeTenant, **fields: object) -> str:
    cs = create_session(client, tenant, **fields)
    payment_id = confirm(rt, tenant, cs["id"])
    assert str(work_until_settled(rt, tenant, payment_id).status) == "succeeded"
    return str(cs["id"])


def page_text(response: TestResponse) -> str:
    return html.unescape(response.get_data(as_text=True))


def ask_for_receipt(client: FlaskClient, receipt_url: str, email: str) -> TestResponse:
    """Fill in and send the form of the receipt page at `receipt_url`, as a browser without JavaScript."""
    page = client.get(receipt_url).get_data(as_text=True)
    token = CSRF.search(page)
    assert token is not None
    action = re.search(r'<form method="post" action="([^"]+)"', page)
    assert action is not None
    return client.post(html.unescape(action.group(1)), data={"csrf_token": token.group(1), "email": email})


def send_jobs(rt: Runtime) -> int:
    """Receipt jobs written to the outbox, every tenant's."""
    with inspector(rt).connect() as conn:
        outbox = OutboxMessage.__table__
        return int(
            conn.scalar(select(func.count()).select_from(outbox).where(outbox.c.job == receipts.SEND_JOB))
            or 0
        )


def test_the_form_queues_a_receipt_and_the_worker_delivers_it(
    client: FlaskClient, make: Factories, clean: Runtime, mail_to_smtp: SmtpServer
) -> None:
    tenant = make.tenants()
    cs_id = paid_session(client, clean, tenant)
    page = page_text(client.get(f"/pay/{cs_id}/receipt"))
    assert "Email me a receipt" in page and "on its way" not in page

    posted = ask_for_receipt(client, f"/pay/{cs_id}/receipt", "  Grace@Example.com ")
    assert posted.status_code == 303
    assert re.fullmatch(rf"/pay/{cs_id}/receipt\?emailed=rcpt_[0-9a-z]{{26}}", posted.location)
    assert "Your receipt is on its way to grace@example.com." in page_text(client.get(posted.location))

    work(clean)
    [delivery] = mail_to_smtp.inbox.wait_for(1)
    assert delivery.recipients == ["grace@example.com"]
    assert "Payment successful" in delivery.text("plain")
    assert "A receipt was sent to grace@example.com." in page_text(client.get(f"/pay/{cs_id}/receipt"))


def test_a_bad_address_is_a_form_error_and_queues_nothing(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    cs_id = paid_session(client, clean, tenant)
    for typed, error in (("not-an-email", "Enter a valid email address."), ("", "Enter your email address.")):
        response = ask_for_receipt(client, f"/pay/{cs_id}/receipt", typed)
        assert response.status_code == 200
        text = page_text(response)
        assert error in text and 'aria-invalid="true"' in text
    assert send_jobs(clean) == 0


def test_the_form_is_limited_to_three_receipts_per_session_and_hour(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    cs_id = paid_session(client, clean, tenant)
    for n in range(receipts.REQUESTS_PER_HOUR):
        assert ask_for_receipt(client, f"/pay/{cs_id}/receipt", f"me{n}@example.com").status_code == 303
    refused = ask_for_receipt(client, f"/pay/{cs_id}/receipt", "one.more@example.com")
    assert refused.status_code == 200
    assert "Too many receipts were requested for this payment. Try again later." in page_text(refused)
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        addresses = sorted(uow.session.scalars(select(Receipt.email)))
    assert addresses == ["me0@example.com", "me1@example.com", "me2@example.com"]


def test_a_session_with_an_email_says_its_receipt_is_on_the_way(
    client: FlaskClient, make: Factories, clean: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The mail server is down, so the receipt the payment queued is still waiting when the page shows.
    down = clean.settings.with_changes(mail_url=f"smtp://127.0.0.1:{free_port()}")
    monkeypatch.setattr(clean, "settings", down)
    tenant = make.tenants()
    cs_id = paid_session(client, clean, tenant, customer_email="ada@example.com")
    text = page_text(client.get(f"/pay/{cs_id}/receipt"))
    assert "Your receipt is on its way to ada@example.com." in text


def test_the_page_says_the_receipt_is_on_the_way_before_the_worker_has_queued_it(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    """The automatic receipt is queued by a subscriber job moments after the payment succeeds; a shopper
    on the receipt page before that job ran is told it is coming, not offered a form for it."""
    tenant = make.tenants()
    cs_id = paid_session(client, clean, tenant, customer_email="ada@example.com")
    with inspector(clean).begin() as conn:  # as if the receipts job had not run yet
        conn.execute(Receipt.__table__.delete().where(Receipt.__table__.c.tenant_id == tenant.id))
    text = page_text(client.get(f"/pay/{cs_id}/receipt"))
    assert "Your receipt is on its way to ada@example.com." in text
    assert "Send it to another address" in text and "Email me a receipt" not in text


def test_the_form_works_in_embed_mode_and_stays_there(
    client: FlaskClient, make: Factories, clean: Runtime, mail_to_smtp: SmtpServer
) -> None:
    tenant = make.tenants()
    allow(client, tenant, SHOP)
    cs_id = paid_session(client, clean, tenant)
    page = client.get(f"/embed/{cs_id}/receipt?origin={SHOP}").get_data(as_text=True)
    assert f'action="/embed/{cs_id}/receipt/email?origin={SHOP}"' in page
    posted = ask_for_receipt(client, f"/embed/{cs_id}/receipt?origin={SHOP}", "grace@example.com")
    assert posted.status_code == 303
    assert posted.location.startswith(f"/embed/{cs_id}/receipt?")
    back = client.get(posted.location)
    assert "Your receipt is on its way to grace@example.com." in page_text(back)
    # The merchant's page heard `success` when the receipt first showed, not again after the form.
    assert embed_script(back.get_data(as_text=True))["event"] == {}
    work(clean)
    assert [d.recipients for d in mail_to_smtp.inbox.wait_for(1)] == [["grace@example.com"]]


def test_an_unpaid_session_cannot_ask_for_a_receipt(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    cs = create_session(client, tenant)
    response = client.post(f"/pay/{cs['id']}/receipt/email", data={"email": "ada@example.com"})
    assert response.status_code == 302 and response.location == f"/pay/{cs['id']}"
