"""Idempotency-Key on POST: the first answer is replayed, another body is a 422, a request in flight is a
409, keys are scoped by tenant; and 20 truly concurrent POSTs with one key create one checkout session."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from core.jobs.runtime import Runtime
from core.payments.models import CheckoutSession
from tests.fixtures import Factories, inspector
from tests.payments_helpers import auth
from tests.portal.live import all_at_once, send, serve

SESSIONS = "/api/v1/checkout/sessions"
BODY = {"amount": 4200, "currency": "EUR", "reference": "order-42"}


def post(client: FlaskClient, key: str, body: Any, idempotency_key: str | None, path: str = SESSIONS) -> Any:
    headers = auth(key)
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    return client.post(path, json=body, headers=headers)


def listed(client: FlaskClient, key: str) -> list[str]:
    return [cs["id"] for cs in client.get(f"{SESSIONS}?limit=100", headers=auth(key)).json["data"]]


def assert_error(response: Any, status: int, code: str, param: str | None = "Idempotency-Key") -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.json["error"]
    assert set(error) == {"type", "code", "message", "param"}
    assert (error["code"], error["param"]) == (code, param) and error["message"]


def test_the_same_key_and_body_replay_the_first_session(client: FlaskClient, make: Factories) -> None:
    key = make.tenants().keys.secret_key
    first = post(client, key, BODY, "order-42-attempt")
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    again = post(client, key, BODY, "order-42-attempt")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    assert listed(client, key) == [first.json["id"]]


def test_the_same_key_with_another_body_or_route_is_a_422(client: FlaskClient, make: Factories) -> None:
    key = make.tenants().keys.secret_key
    first = post(client, key, BODY, "k-1")
    assert first.status_code == 201
    assert_error(post(client, key, {**BODY, "amount": 4300}, "k-1"), 422, "idempotency_key_reused")
    assert_error(post(client, key, {"payment": "pay_" + "0" * 26}, "k-1", "/api/v1/refunds"), 422,
                 "idempotency_key_reused")  # fmt: skip
    assert listed(client, key) == [first.json["id"]]


def test_keys_are_scoped_by_tenant(client: FlaskClient, make: Factories) -> None:
    a, b = make.tenants().keys.secret_key, make.tenants().keys.secret_key
    made_a, made_b = post(client, a, BODY, "shared-key"), post(client, b, BODY, "shared-key")
    assert made_a.status_code == made_b.status_code == 201
    assert "Idempotent-Replayed" not in made_b.headers and made_a.json["id"] != made_b.json["id"]
    assert listed(client, a) == [made_a.json["id"]] and listed(client, b) == [made_b.json["id"]]


def test_without_a_key_every_post_creates(client: FlaskClient, make: Factories) -> None:
    key = make.tenants().keys.secret_key
    assert post(client, key, BODY, None).json["id"] != post(client, key, BODY, None).json["id"]
    assert len(listed(client, key)) == 2


@pytest.mark.parametrize("idempotency_key", ["x" * 256, "", "   ", "tab\there"])
def test_a_malformed_key_is_a_400_and_creates_nothing(
    client: FlaskClient, make: Factories, idempotency_key: str
) -> None:
    key = make.tenants().keys.secret_key
    assert_error(post(client, key, BODY, idempotency_key), 400, "parameter_invalid")
    assert listed(client, key) == []


def test_a_key_of_255_characters_is_accepted(client: FlaskClient, make: Factories) -> None:
    key = make.tenants().keys.secret_key
    first, again = post(client, key, BODY, "k" * 255), post(client, key, BODY, "k" * 255)
    assert first.status_code == again.status_code == 201 and again.json["id"] == first.json["id"]


def test_an_error_answer_is_replayed_too_and_its_effects_are_not_kept(
    client: FlaskClient, make: Factories
) -> None:
    key = make.tenants().keys.secret_key
    refused = post(client, key, {**BODY, "currency": "XTS"}, "bad-currency")
    assert_error(refused, 400, "parameter_invalid", "currency")
    again = post(client, key, {**BODY, "currency": "XTS"}, "bad-currency")
    assert again.headers["Idempotent-Replayed"] == "true" and again.json == refused.json
    assert listed(client, key) == []


@pytest.mark.postgres
def test_twenty_concurrent_posts_with_one_key_create_one_session(
    app: Flask, client: FlaskClient, make: Factories, clean: Runtime
) -> None:
    key = make.tenants().keys.secret_key
    with serve(app) as address:
        answers = all_at_once(
            20,
            lambda _: send(
                address, "POST", SESSIONS, key=key, body=BODY, headers={"Idempotency-Key": "one-key"}
            ),
        )
        # Once the first has finished, the same request is answered from the stored response.
        late = send(address, "POST", SESSIONS, key=key, body=BODY, headers={"Idempotency-Key": "one-key"})
    statuses = sorted(a.status for a in answers)
    assert set(statuses) <= {201, 409}, statuses
    created = {a.body["id"] for a in answers if a.status == 201}
    assert len(created) == 1, created
    for answer in answers:
        if answer.status == 409:
            assert answer.body["error"]["code"] == "idempotency_key_in_use"
            assert answer.body["error"]["param"] == "Idempotency-Key"
    assert late.status == 201 and late.headers["idempotent-replayed"] == "true"
    assert {late.body["id"]} == created
    assert listed(client, key) == sorted(created)
    with inspector(clean).connect() as conn:
        assert conn.scalar(select(func.count()).select_from(CheckoutSession.__table__)) == 1
