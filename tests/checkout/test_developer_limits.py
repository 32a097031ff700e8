"""Test mode is for developers: the hosted page's per-IP attempt limit does not hold back the documented
test cards in test mode; other numbers still meet it."""

from __future__ import annotations

from flask.testing import FlaskClient

from core.jobs.runtime import Runtime
from tests.fixtures import Factories
from tests.payments_helpers import create_session, load, page_text, submit_pay_form, work

IP_LIMIT = 30  # confirm attempts per IP address and hour (checkout/views.py)


def test_a_developer_pays_with_the_test_card_past_the_per_ip_limit(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    payment_ids = []
    for _ in range(IP_LIMIT + 5):
        posted = submit_pay_form(client, create_session(client, tenant)["id"])
        assert posted.status_code == 303, page_text(posted)
        payment_ids.append(posted.location.rsplit("/", 1)[1])
    work(clean)
    assert {str(load(clean, tenant, p).status) for p in payment_ids} == {"succeeded"}


def test_other_numbers_still_meet_the_per_ip_limit(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    for _ in range(IP_LIMIT):
        posted = submit_pay_form(client, create_session(client, tenant)["id"], number="5555 5555 5555 4444")
        assert posted.status_code == 303, page_text(posted)
    refused = submit_pay_form(client, create_session(client, tenant)["id"], number="5555 5555 5555 4444")
    assert refused.status_code == 200
    assert "Too many payment attempts. Wait a while or contact the shop." in page_text(refused)
