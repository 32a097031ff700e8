"""The payments workspace as a merchant's browser sees it (without JavaScript; e2e/ drives HTMX): the
filtered list and its CSV, one payment's timeline and its actions, refunds and checkout sessions."""

from __future__ import annotations

import csv
import html
import io
import json
import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from core.audit import actions
from core.audit.models import AuditEvent
from core.jobs.runtime import Runtime
from core.payments.models import Payment, Refund
from core.receipts.models import Receipt
from tests.factories import MadeTenant
from tests.fixtures import Factories
from tests.portal.test_sign_in import csrf_token, sign_in
from tests.webhooks_helpers import create_endpoint, drain, receiver


def rows(html: str, prefix: str = "pay|re|cs") -> list[str]:
    """The object ids in the first table of a list page, in their order (not ids of links elsewhere): the
    first id of each row."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""
    found = [
        re.search(rf'<code class="small">((?:{prefix})_[0-9a-z]+)</code>', row) for row in body.split("<tr>")
    ]
    return [match.group(1) for match in found if match]


def listed(client: FlaskClient, query: str = "") -> list[str]:
    response = client.get(f"/portal/payments{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return rows(response.get_data(as_text=True))


def test_the_portal_lists_and_shows_the_tenants_payments(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    a, b = make.tenants(), make.tenants()
    paid = make.payments(tenant=a, amount=1999).id
    declined = make.payments(tenant=a, failed=True).id
    others = make.payments(tenant=b, pending=True).id
    sign_in(client, a)

    listing = client.get("/portal/payments").get_data(as_text=True)
    assert rows(listing) == [declined, paid] and others not in listing
    assert "€19.99" in listing
    assert listed(client, "?status=failed") == [declined]
    fragment = client.get("/portal/payments?status=failed", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert "<html" not in fragment and rows(fragment) == [declined]

    detail = client.get(f"/portal/payments/{paid}").get_data(as_text=True)
    assert "succeeded" in detail and "payment.succeeded" in detail and "···· 4242" in detail
    assert client.get(f"/portal/payments/{others}").status_code == 404
    bad = client.get("/portal/payments?status=bogus")
    assert bad.status_code == 400 and "Status: Not a valid choice" in bad.get_data(as_text=True)


def test_payments_need_sign_in(client: FlaskClient) -> None:
    response = client.get("/portal/payments")
    assert response.status_code == 302 and "/portal/login" in response.location


def test_the_portal_list_pages_by_cursor_both_ways(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    made = [make.payments(tenant=tenant, pending=True).id for _ in range(27)]
    sign_in(client, tenant)

    first = client.get("/portal/payments").get_data(as_text=True)
    assert rows(first) == made[:1:-1] and f"after={made[2]}" in first and "Newer payments" not in first
    older = client.get(f"/portal/payments?after={made[2]}").get_data(as_text=True)
    assert rows(older) == [made[1], made[0]] and "Older payments" not in older
    assert f"before={made[1]}" in older
    back = client.get(f"/portal/payments?before={made[1]}").get_data(as_text=True)
    assert rows(back) == made[:1:-1]
    # The filters ride along the cursor links.
    filtered = client.get("/portal/payments?status=pending").get_data(as_text=True)
    assert (
        f"after={made[2]}&amp;status=pending" in filtered or f"status=pending&amp;after={made[2]}" in filtered
    )


def test_filters_narrow_the_list_and_stay_in_the_url(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    small = make.payments(tenant=tenant, amount=1500, customer_email="ann@example.com").id
    large = make.payments(tenant=tenant, amount=12000).id
    declined = make.payments(tenant=tenant, amount=5000, failed=True).id
    wallet = make.payments(tenant=tenant, amount=3000, method="wallet", card_number=None, pending=True).id
    review = make.payments(tenant=tenant, amount=4000, card_number="4000 0000 0000 4954").id
    referenced = make.payments(
        tenant=tenant, session=make.sessions(tenant=tenant, amount=2200, reference="ORDER-7781", country="NL")
    ).id
    sign_in(client, tenant)

    assert listed(client, "?status=succeeded&amount_min=20&amount_max=130") == [referenced, review, large]
    assert listed(client, "?amount_min=10%2C00&amount_max=16") == [small]
    assert listed(client, "?method=wallet") == [wallet]
    assert listed(client, "?risk=review") == [review]
    assert listed(client, "?currency=eur&status=failed") == [declined]
    assert listed(client, "?currency=USD") == []
    assert listed(client, "?country=NL") == [referenced]
    # Search: last4, reference (or its beginning), customer email, payment id, session id.
    assert set(listed(client, "?q=4954")) == {review}
    assert listed(client, "?q=ORDER-7781") == [referenced] and listed(client, "?q=order-77") == []
    assert listed(client, "?q=ORDER-77") == [referenced]
    assert listed(client, "?q=ANN@example.com") == [small]
    assert listed(client, f"?q={large}") == [large]
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        session_of_large = uow.session.scalar(select(Payment.checkout_session_id).where(Payment.id == large))
    assert listed(client, f"?q={session_of_large}") == [large]
    # Dates: the "to" day is included; a range that ends before today finds nothing.
    today = clean.clock.now().date().isoformat()
    assert len(listed(client, f"?created_from={today}&created_to={today}")) == 6
    assert listed(client, "?created_to=2020-01-01") == []
    # The filter state is the URL: the form shows it back and the empty state says what to do.
    page = client.get("/portal/payments?status=failed&q=nothing-like-this").get_data(as_text=True)
    assert 'value="nothing-like-this"' in page and '<option selected value="failed">' in page
    assert "No payments match these filters" in page and "Clear filters" in page


def test_bad_filters_say_what_is_wrong_and_list_nothing(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    make.payments(tenant=tenant, pending=True)
    sign_in(client, tenant)
    for query, message in (
        ("?amount_min=ten", "Enter an amount like 10.50."),
        ("?amount_min=1.234", "more decimal places"),
        ("?created_from=yesterday", "Not a valid date value."),
        ("?currency=EURO", "A 3-letter code, like EUR."),
        ("?country=DEU", "A 2-letter code, like DE."),
        ("?risk=maybe", "Not a valid choice"),
    ):
        response = client.get(f"/portal/payments{query}")
        text = response.get_data(as_text=True)
        assert response.status_code == 400 and message in text and rows(text) == [], query
        htmx = client.get(f"/portal/payments{query}", headers={"HX-Request": "true"})
        assert htmx.status_code == 200 and message in htmx.get_data(as_text=True)


def _csv(client: FlaskClient, query: str = "") -> list[dict[str, str]]:
    response = client.get(f"/portal/payments.csv{query}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.is_streamed and "attachment" in response.headers["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_the_csv_has_exactly_the_rows_of_the_filtered_list(client: FlaskClient, make: Factories) -> None:
    tenant = make.tenants()
    failed = make.payments(tenant=tenant, amount=2000, failed=True).id  # first: its worker run settles all
    made = [make.payments(tenant=tenant, amount=1000 + i * 100, pending=True).id for i in range(5)]
    sign_in(client, tenant)
    query = "?status=pending&amount_min=11&amount_max=13"
    shown = listed(client, query)
    exported = _csv(client, query)
    assert [r["id"] for r in exported] == shown == [made[3], made[2], made[1]]
    assert exported[0]["amount"] == "13.00" and exported[0]["currency"] == "EUR"
    assert exported[0]["livemode"] == "false"
    assert "card_number" not in exported[0] and all(len(r["card_last4"]) == 4 for r in exported)
    every = _csv(client)
    assert [r["id"] for r in every] == [*reversed(made), failed]
    page = client.get("/portal/payments" + query).get_data(as_text=True)
    assert "/portal/payments.csv?" in page and "status=pending" in page.split("payments.csv?", 1)[1][:200]
    assert client.get("/portal/payments.csv?amount_min=x").status_code == 400


def test_the_csv_streams_past_one_batch(client: FlaskClient, make: Factories, clean: Runtime) -> None:
    from core.payments import queries

    tenant = make.tenants()
    made = [make.payments(tenant=tenant, pending=True).id for _ in range(5)]
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        streamed = [
            p.id
            for p in queries.iter_payments(
                uow.session, livemode=False, where=queries.PaymentFilter(), batch=2
            )
        ]
    assert streamed == list(reversed(made))


def _refunds(rt: Runtime, tenant: MadeTenant, payment_id: str) -> list[Refund]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        return list(uow.session.scalars(select(Refund).where(Refund.payment_id == payment_id)))


def test_a_refund_asks_to_confirm_the_amount_then_shows_on_the_timeline(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    payment_id = make.payments(tenant=tenant, amount=2500).id
    sign_in(client, tenant)
    detail = client.get(f"/portal/payments/{payment_id}").get_data(as_text=True)
    assert "€25.00 left to refund" in detail
    token = csrf_token(detail)

    asked = client.post(f"/portal/payments/{payment_id}/refund", data={"csrf_token": token, "amount": "7,50"})
    page = asked.get_data(as_text=True)
    assert asked.status_code == 200 and "Refund €7.50?" in page and "Left after this refund" in page
    assert "€17.50" in page and _refunds(clean, tenant, payment_id) == []
    too_much = client.post(
        f"/portal/payments/{payment_id}/refund", data={"csrf_token": token, "amount": "30"}
    )
    assert too_much.status_code == 303
    assert "exceeds the 25.00 EUR left" in client.get(f"/portal/payments/{payment_id}").get_data(as_text=True)

    done = client.post(
        f"/portal/payments/{payment_id}/refund",
        data={"csrf_token": csrf_token(page), "amount": "7,50", "confirmed": "yes"},
    )
    assert done.status_code == 303
    [made] = _refunds(clean, tenant, payment_id)
    assert made.amount == 750
    detail = client.get(f"/portal/payments/{payment_id}").get_data(as_text=True)
    assert f"Refunded €7.50 ({made.id})" in detail
    timeline = detail.split('id="tl-h"', 1)[1].split("</section>", 1)[0]
    assert "Refund of €7.50" in timeline and made.id in timeline and "Ledger: Refund booked" in timeline
    assert "partially refunded" in timeline
    ledger = detail.split('id="ledger-h"', 1)[1].split("</section>", 1)[0]
    assert "refunds" in ledger and "€7.50" in ledger and "processor receivable" in ledger

    # All that is left: the confirmation says it.
    full = client.post(f"/portal/payments/{payment_id}/refund", data={"csrf_token": token, "amount": ""})
    assert "Refund €17.50?" in full.get_data(as_text=True) and "all that is left" in full.get_data(
        as_text=True
    )
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        audited = uow.session.scalars(select(AuditEvent.action).where(AuditEvent.subject_id == made.id)).all()
    assert actions.REFUND_CREATED in audited


def test_capture_and_cancel_a_manual_capture_payment(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    to_capture = make.payments(tenant=tenant, amount=4200, authorized=True).id
    to_cancel = make.payments(tenant=tenant, amount=1000, authorized=True).id
    sign_in(client, tenant)
    detail = client.get(f"/portal/payments/{to_capture}").get_data(as_text=True)
    assert "Capture €42.00" in detail and "Cancel payment" in detail
    token = csrf_token(detail)
    captured = client.post(f"/portal/payments/{to_capture}/capture", data={"csrf_token": token})
    assert captured.status_code == 303
    after = client.get(f"/portal/payments/{to_capture}").get_data(as_text=True)
    assert "Captured €42.00." in after and "badge-succeeded" in after and "Captured funds booked" in after
    again = client.post(f"/portal/payments/{to_capture}/capture", data={"csrf_token": token})
    assert again.status_code == 303
    assert "Only an authorized payment" in client.get(f"/portal/payments/{to_capture}").get_data(as_text=True)

    assert client.post(f"/portal/payments/{to_cancel}/cancel", data={"csrf_token": token}).status_code == 303
    canceled = client.get(f"/portal/payments/{to_cancel}").get_data(as_text=True)
    assert "Payment canceled" in canceled and "badge-canceled" in canceled
    assert client.post(f"/portal/payments/{to_cancel}/cancel", data={}).status_code == 400  # no CSRF token
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        done = set(uow.session.scalars(select(AuditEvent.action).where(AuditEvent.actor_type == "user")))
    assert {actions.PAYMENT_CAPTURED, actions.PAYMENT_CANCELED} <= done


def test_resend_a_receipt(client: FlaskClient, make: Factories, clean: Runtime) -> None:
    tenant = make.tenants()
    payment_id = make.payments(tenant=tenant, customer_email="ann@example.com").id
    sign_in(client, tenant)
    detail = client.get(f"/portal/payments/{payment_id}").get_data(as_text=True)
    assert 'value="ann@example.com"' in detail
    token = csrf_token(detail)
    bad = client.post(f"/portal/payments/{payment_id}/receipt", data={"csrf_token": token, "email": "nope"})
    assert bad.status_code == 303
    assert "Enter a valid email address" in client.get(f"/portal/payments/{payment_id}").get_data(
        as_text=True
    )
    sent = client.post(
        f"/portal/payments/{payment_id}/receipt", data={"csrf_token": token, "email": "Bo@Example.com"}
    )
    assert sent.status_code == 303
    with clean.db.unit_of_work(tenant_id=tenant.id) as uow:
        emails = uow.session.scalars(select(Receipt.email).where(Receipt.payment_id == payment_id)).all()
        queued = uow.session.scalars(
            select(AuditEvent.actor_type).where(AuditEvent.action == actions.RECEIPT_QUEUED)
        ).all()
    assert "bo@example.com" in emails and "user" in [str(a) for a in queued]
    assert "Receipt queued to Bo@Example.com" in client.get(f"/portal/payments/{payment_id}").get_data(
        as_text=True
    )


def test_refunds_and_checkout_sessions_have_lists_and_pages(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant, other = make.tenants(), make.tenants()
    made = make.refunds(tenant=tenant, amount=300)
    cs = make.sessions(tenant=tenant, reference="INV-1", customer_email="c@example.com")
    theirs = make.refunds(tenant=other)
    sign_in(client, tenant)

    refund_list = client.get("/portal/refunds").get_data(as_text=True)
    assert rows(refund_list, "re") == [made.id] and "€3.00" in refund_list
    refund_page = client.get(f"/portal/refunds/{made.id}").get_data(as_text=True)
    assert (
        "Refund of €3.00" in refund_page
        and made.payment_id in refund_page
        and "refund.created" in refund_page
    )
    assert client.get(f"/portal/refunds/{theirs.id}").status_code == 404

    session_list = client.get("/portal/checkout-sessions").get_data(as_text=True)
    assert cs.id in rows(session_list) and "INV-1" in session_list
    assert cs.id in rows(client.get("/portal/checkout-sessions?status=open").get_data(as_text=True))
    assert rows(client.get("/portal/checkout-sessions?status=expired").get_data(as_text=True)) == []
    assert client.get("/portal/checkout-sessions?status=nope").status_code == 400
    session_page = client.get(f"/portal/checkout-sessions/{cs.id}").get_data(as_text=True)
    assert (
        "INV-1" in session_page
        and "c@example.com" in session_page
        and "No payment attempt yet" in session_page
    )
    paid_session = client.get(f"/portal/checkout-sessions/{made_session(clean, tenant, made.payment_id)}")
    assert made.payment_id in paid_session.get_data(as_text=True)


def made_session(rt: Runtime, tenant: MadeTenant, payment_id: str) -> str:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        return str(uow.session.scalar(select(Payment.checkout_session_id).where(Payment.id == payment_id)))


def test_the_api_lists_payments_through_the_same_filters(client: FlaskClient, make: Factories) -> None:
    from tests.payments_helpers import auth

    tenant = make.tenants()
    small = make.payments(tenant=tenant, amount=900).id
    big = make.payments(tenant=tenant, amount=9000, card_number="5555 5555 5555 4444").id
    key = auth(tenant.keys.secret_key)

    def ids(query: str) -> list[str]:
        answer = client.get(f"/api/v1/payments{query}", headers=key)
        assert answer.status_code == 200, answer.json
        return [p["id"] for p in answer.json["data"]]

    assert ids("?amount_gte=1000&currency=EUR") == [big]
    assert ids("?amount_lte=1000&method=card&risk_decision=allow") == [small]
    assert ids("?q=4444") == [big]
    assert ids("?currency=USD") == []
    bad = client.get("/api/v1/payments?currency=eur", headers=key)
    assert bad.status_code == 400 and bad.json["error"]["param"] == "currency"


def test_the_timeline_shows_the_webhook_deliveries_of_the_payments_events(
    client: FlaskClient, make: Factories, clean: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clean, "settings", clean.settings.with_changes(webhooks_allow_private=True))
    tenant = make.tenants()
    with receiver() as hooks:
        endpoint, _ = create_endpoint(clean, tenant, hooks.url, events=["payment.succeeded"])
        payment_id = make.payments(tenant=tenant, amount=2500).id
        drain(clean)
        assert [json.loads(r.body)["type"] for r in hooks.received] == ["payment.succeeded"]
    sign_in(client, tenant)
    detail = client.get(f"/portal/payments/{payment_id}").get_data(as_text=True)
    timeline = detail.split('id="tl-h"', 1)[1].split("</section>", 1)[0]
    assert "Webhook <code>payment.succeeded</code>" in timeline
    assert f"/portal/webhooks/{endpoint.id}" in timeline
    assert f"{hooks.url} · HTTP 200 · 1 attempt" in html.unescape(timeline)
