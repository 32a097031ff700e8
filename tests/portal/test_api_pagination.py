"""Cursor pagination of the API's lists: newest first, `limit`, `starting_after`, `ending_before`."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from core.jobs.runtime import Runtime
from tests.factories import MadeTenant
from tests.fixtures import Factories
from tests.payments_helpers import auth, create_session

LISTS = ("/api/v1/payments", "/api/v1/events")
#: The lists the cursor tests walk: checkout sessions too, whose ids are the longer credential shape.
WALKED = (*LISTS, "/api/v1/checkout/sessions")


def get(client: FlaskClient, tenant: MadeTenant, url: str) -> Any:
    return client.get(url, headers=auth(tenant.keys.secret_key))


def page(client: FlaskClient, tenant: MadeTenant, url: str) -> tuple[list[str], bool]:
    response = get(client, tenant, url)
    assert response.status_code == 200, response.json
    assert response.json["object"] == "list"
    return [item["id"] for item in response.json["data"]], response.json["has_more"]


def assert_refused(response: Any, param: str) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)
    error = response.json["error"]
    assert set(error) == {"type", "code", "message", "param"}
    assert (error["code"], error["param"]) == ("parameter_invalid", param) and error["message"]


@pytest.fixture
def shop(client: FlaskClient, make: Factories, clean: Runtime) -> MadeTenant:
    """A tenant with five payments (pending), their sessions' and payments' events."""
    tenant = make.tenants()
    for amount in (1000, 2000, 3000, 4000, 5000):
        make.payments(tenant=tenant, amount=amount, pending=True)
    return tenant


@pytest.mark.parametrize("url", WALKED)
def test_starting_after_walks_back_through_every_object_once(
    client: FlaskClient, shop: MadeTenant, url: str
) -> None:
    everything, more = page(client, shop, f"{url}?limit=100")
    assert not more and len(everything) >= 5 and everything == sorted(everything, reverse=True)
    walked: list[str] = []
    ids, more = page(client, shop, f"{url}?limit=2")
    while True:
        assert len(ids) <= 2
        walked += ids
        if not more:
            break
        ids, more = page(client, shop, f"{url}?limit=2&starting_after={ids[-1]}")
    assert walked == everything


@pytest.mark.parametrize("url", WALKED)
def test_ending_before_walks_forward_to_the_newest(client: FlaskClient, shop: MadeTenant, url: str) -> None:
    everything, _ = page(client, shop, f"{url}?limit=100")
    oldest = everything[-1]
    walked: list[str] = []
    cursor = oldest
    while True:
        ids, more = page(client, shop, f"{url}?limit=2&ending_before={cursor}")
        assert ids == sorted(ids, reverse=True) and len(ids) <= 2  # a page is newest first, like any
        walked = ids + walked
        if not more:
            break
        cursor = ids[0]
    assert walked == everything[:-1]
    assert page(client, shop, f"{url}?ending_before={everything[0]}") == ([], False)
    assert page(client, shop, f"{url}?starting_after={oldest}") == ([], False)


def test_the_default_page_is_ten(client: FlaskClient, make: Factories, clean: Runtime) -> None:
    tenant = make.tenants()
    for _ in range(11):
        create_session(client, tenant)
    ids, more = page(client, tenant, "/api/v1/checkout/sessions")
    assert len(ids) == 10 and more


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5", " 5", "1_0", "\u0665", ""])
def test_a_limit_outside_1_to_100_is_a_400_naming_limit(
    client: FlaskClient, shop: MadeTenant, url: str, limit: str
) -> None:
    assert_refused(get(client, shop, f"{url}?limit={limit}"), "limit")


@pytest.mark.parametrize("url", LISTS)
def test_the_limits_themselves_are_accepted(client: FlaskClient, shop: MadeTenant, url: str) -> None:
    assert len(page(client, shop, f"{url}?limit=1")[0]) == 1
    assert page(client, shop, f"{url}?limit=100")[1] is False


@pytest.mark.parametrize(
    "url", [*LISTS, "/api/v1/balance", "/api/v1/checkout/settings", "/api/v1/checkout/sessions"]
)
def test_an_unknown_query_parameter_is_a_400_naming_it(
    client: FlaskClient, shop: MadeTenant, url: str
) -> None:
    assert_refused(get(client, shop, f"{url}?colour=blue"), "colour")


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("starting_after=pay_01jd8x3m4n5p6q7r8s9t0v1w2x&ending_before=pay_01jd8x3m4n5p6q7r8s9t0v1w2x",
         "ending_before"),
        ("starting_after=not-an-id", "starting_after"),
        ("ending_before=pay_%00", "ending_before"),
        ("limit=2&limit=3", "limit"),
        ("checkout_session=cs_%00%00", "checkout_session"),
        ("created_gte=yesterday", "created_gte"),
        ("status=lost", "status"),
    ],
)  # fmt: skip
def test_malformed_list_parameters_are_a_400_naming_them(
    client: FlaskClient, shop: MadeTenant, query: str, param: str
) -> None:
    assert_refused(get(client, shop, f"/api/v1/payments?{query}"), param)


def test_a_payments_events_come_with_increasing_sequence(
    client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    tenant = make.tenants()
    paid = make.payments(tenant=tenant, amount=6000)
    payment_id = paid.id
    for amount in (1000, 2000):
        refund = make.refunds(tenant=tenant, payment=paid, amount=amount)
        assert (refund.amount, str(refund.status)) == (amount, "succeeded")
    events = get(client, tenant, f"/api/v1/events?object={payment_id}").json["data"]
    oldest_first = list(reversed(events))
    assert [e["sequence"] for e in oldest_first] == [1, 2, 3, 4]
    assert [e["type"] for e in oldest_first] == [
        "payment.created",
        "payment.succeeded",
        "payment.refunded",
        "payment.refunded",
    ]
    assert [e["data"]["amount_refunded"] for e in oldest_first] == [0, 0, 1000, 3000]
    assert all(e["data"]["id"] == payment_id for e in events)
    # Paging through one object's events keeps the order.
    first, more = page(client, tenant, f"/api/v1/events?object={payment_id}&limit=3")
    rest, more_after = page(
        client, tenant, f"/api/v1/events?object={payment_id}&limit=3&starting_after={first[-1]}"
    )
    assert more and not more_after and first + rest == [e["id"] for e in events]
