"""Property-based run of schemathesis against /api/v1/openapi.json, through the Flask app (WSGI, no network).

One test per operation of the document. Schemathesis sends it its coverage cases (boundary values, missing
and malformed parameters, unexpected methods) and then schema-valid and schema-invalid requests drawn by
Hypothesis, all with a valid test secret key of a fresh tenant that owns real objects (checkout sessions,
a succeeded payment, a refund, events, a payment link). Every answer must be no 5xx and must match the
document: status code, content type, headers and body schema; invalid input must be refused with a 4xx.

The run is derandomized and bounded for CI (25 examples per operation after the coverage cases); dig
deeper locally with KASSA_SCHEMATHESIS_EXAMPLES=500. Under pytest 9.2, schemathesis 4.32 cannot rename the
items it makes, so all of them share one node id: a failure's header still names the operation
(`test_every_operation_answers_as_documented[POST /refunds]`), and so does the failure's curl command.
"""

from __future__ import annotations

import itertools
import os
import zlib
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from core.jobs.runtime import Runtime
from portal.api.openapi import document
from tests.fixtures import SECURITY_HEADERS, Factories
from tests.payments_helpers import auth

schema = schemathesis.openapi.from_dict(document())
# The secret key is sent with every request (below); schemathesis need not invent or drop one.
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], with_security_parameters=False
)

#: Not run: schema-valid input may still be refused by rules a schema cannot state (a currency code no
#: longer in use, an expiry within 30 minutes, an Idempotency-Key the generator reused with another body,
#: a payment in the wrong state). Those answers are documented 4xx errors, which the other checks verify.
EXCLUDED_CHECKS = [positive_data_acceptance]


@dataclass
class Seeded:
    headers: dict[str, str]
    #: Real ids of the tenant, by operation path; some generated requests use them instead of random ids.
    ids: dict[str, list[str]]
    payment_id: str


@pytest.fixture
def seeded(client: FlaskClient, clean: Runtime, make: Factories) -> Seeded:
    served = client.get("/api/v1/openapi.json")
    assert served.status_code == 200 and served.json == document(), (
        "the document under test is the served one"
    )
    tenant = make.tenants()
    key = auth(tenant.keys.secret_key)
    paid = make.payments(tenant=tenant, amount=10_000)
    payment_id = paid.id
    assert str(paid.status) == "succeeded"
    open_session = make.sessions(tenant=tenant, amount=1234)
    refund = client.post("/api/v1/refunds", json={"payment": payment_id, "amount": 100}, headers=key)
    assert refund.status_code == 201, refund.json
    events = [e["id"] for e in client.get("/api/v1/events?limit=5", headers=key).json["data"]]
    sessions = [paid.checkout_session_id, open_session.id]
    links: list[str] = []
    if "/payment_links" in document()["paths"]:
        link = client.post("/api/v1/payment_links", json={"amount": 500, "currency": "EUR"}, headers=key)
        assert link.status_code == 201, link.json
        links.append(link.json["id"])
    return Seeded(
        headers=key,
        ids={
            "/payment_links/{id}": links,
            "/checkout/sessions/{id}": sessions,
            "/checkout/sessions/{id}/expire": sessions,
            "/payments/{id}": [payment_id],
            "/payments/{id}/capture": [payment_id],
            "/payments/{id}/cancel": [payment_id],
            "/refunds/{id}": [refund.json["id"]],
            "/events/{id}": events,
        },
        payment_id=payment_id,
    )


def _pick(value: object, choices: list[str]) -> str | None:
    """For about half of the generated values, one of `choices`: chosen by a checksum of the generated
    value, so a run is reproducible (Python's own str hash is salted per process)."""
    digest = zlib.crc32(repr(value).encode())
    return choices[(digest >> 1) % len(choices)] if digest % 2 == 0 else None


_KEYS = itertools.count(1)


def _fresh_idempotency_key(case: Any) -> None:
    """Make three in four well-formed Idempotency-Keys unique. The generator draws keys from a small pool,
    so most POSTs would otherwise be answered 422 (key reused with another body) before their body is
    even read; the rest keep their key, so replays and 422s are still checked against the document."""
    headers = case.headers or {}
    key = headers.get("Idempotency-Key")
    if not isinstance(key, str) or not key.strip() or len(key) > 255 or not key.isprintable():
        return  # a malformed key stays as generated: the request must be refused with a 400
    if zlib.crc32(key.encode()) % 4:
        # The prefix keeps the key well-formed (it adds non-space characters, and the cut keeps 255).
        case.headers = {**headers, "Idempotency-Key": f"k{next(_KEYS)}-{key}"[:255]}


def _prepare(case: Any, seeded: Seeded) -> None:
    """Point some schema-valid requests at real objects, so success answers are checked too."""
    _fresh_idempotency_key(case)
    if case.meta is None or case.meta.generation.mode is not GenerationMode.POSITIVE:
        return
    real = seeded.ids.get(case.operation.path)
    if real and case.path_parameters and (chosen := _pick(case.path_parameters, real)):
        case.path_parameters = {**case.path_parameters, "id": chosen}
    if isinstance(case.body, dict):
        if case.operation.path == "/refunds" and _pick(case.body, [seeded.payment_id]):
            case.body = {**case.body, "payment": seeded.payment_id}
        currency = _pick(case.body, ["EUR", "usd", "JPY"])  # most generated codes name no currency
        if case.operation.path == "/checkout/sessions" and currency:
            case.body = {**case.body, "currency": currency}


def _security_headers(ctx: Any, response: Any, case: Any) -> bool | None:
    # Like tests.fixtures.CheckedClient: every answer carries the security headers.
    missing = [h for h in SECURITY_HEADERS if h.lower() not in response.headers]
    assert not missing, f"answered without {missing}"
    return None


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("KASSA_SCHEMATHESIS_EXAMPLES", "25")),
    deadline=None,
    derandomize=True,
    database=None,
    # One seeded tenant serves every example of an operation, on purpose (seeding it per example would
    # cost a worker run each); requests through the whole app are slow by Hypothesis' standards.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_operation_answers_as_documented(case: Any, app: Flask, seeded: Seeded) -> None:
    # Through the app itself (WSGI), and so are the probes some checks send (the same request without the
    # key, say). parametrize() works on a clone of `schema`: the app is set on the case's own.
    case.operation.app = case.operation.schema.app = app
    _prepare(case, seeded)
    case.call_and_validate(
        headers=seeded.headers,
        excluded_checks=EXCLUDED_CHECKS,
        additional_checks=[_security_headers],
    )


# What the run above found, and its neighbours, pinned as plain examples: NUL characters in a query or a
# body reached PostgreSQL (a 500); so did unpaired surrogates (a 500 on either database), and JSON nested
# past the parser's depth (a RecursionError, a 500). The rest are the input rules the document now states.


@pytest.mark.parametrize(
    ("path", "raw", "param"),
    [
        ("/api/v1/checkout/settings", '{"display_name": "Shop\\u0000"}', "display_name"),
        ("/api/v1/checkout/settings", '{"display_name": "\\udc00"}', "display_name"),
        ("/api/v1/checkout/settings", '{"allowed_origins": ["https://a.example\\u0000"]}', "allowed_origins"),
        ("/api/v1/checkout/sessions", '{"amount": 100, "currency": "EUR", "metadata": {"k\\u0000": "v"}}',
         "metadata"),
        ("/api/v1/checkout/sessions", '{"amount": 100, "currency": "EUR", "reference": "\\ud800x"}',
         "reference"),
        ("/api/v1/checkout/sessions", '{"amount": 100.0, "currency": "EUR"}', "amount"),
        ("/api/v1/checkout/sessions", '{"amount": 1e3, "currency": "EUR"}', "amount"),
        ("/api/v1/checkout/sessions", '{"amount": NaN, "currency": "EUR"}', None),
        ("/api/v1/checkout/sessions", '{"amount": Infinity, "currency": "EUR"}', None),
        ("/api/v1/checkout/sessions", '{"\\u0000": 1}', None),
        ("/api/v1/checkout/sessions", "[" * 100_000, None),
        ("/api/v1/checkout/sessions", '{"amount": 100, "currency": "EUR", "success_url": "ftp://x"}',
         "success_url"),
        ("/api/v1/refunds", '{"payment": "pay_\\u0000"}', "payment"),
    ],
)  # fmt: skip
def test_input_no_column_can_hold_is_a_400_naming_the_field(
    client: FlaskClient, make: Factories, path: str, raw: str, param: str | None
) -> None:
    key = auth(make.tenants().keys.secret_key)
    method = client.patch if path.endswith("settings") else client.post
    response = method(path, data=raw, content_type="application/json", headers=key)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.json["error"]["code"] == "parameter_invalid"
    assert response.json["error"]["param"] == param
    assert client.get("/api/v1/checkout/sessions", headers=key).json["data"] == []


@pytest.mark.parametrize(
    "query",
    ["starting_after=cs_%00", "ending_before=%00", "status=open%00", "limit=1%00", "limit=%D9%A5"],
)
def test_query_values_no_column_can_hold_are_a_400(client: FlaskClient, make: Factories, query: str) -> None:
    key = auth(make.tenants().keys.secret_key)
    response = client.get(f"/api/v1/checkout/sessions?{query}", headers=key)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.json["error"]["param"] == query.split("=")[0]


def test_every_documented_answer_names_its_headers_and_errors() -> None:
    for path, operations in document()["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert {"400", "401", "default"} <= set(responses), (method, path)
            if "{id}" in path:
                assert "404" in responses and operation["parameters"][0]["in"] == "path"
            if method == "post":
                assert {"409", "422"} <= set(responses)
                assert any(p["name"] == "Idempotency-Key" for p in operation["parameters"])
                success = next(code for code in responses if code.startswith("2"))
                assert "Idempotent-Replayed" in responses[success]["headers"]


def test_docs_api_md_lists_every_route() -> None:
    from portal.api.blueprint import ROUTES
    from tests.fixtures import ROOT

    listed = (ROOT / "docs" / "api.md").read_text()
    missing = [f"{r.method} /api/v1{r.path}" for r in ROUTES if f"`{r.method} /api/v1{r.path}`" not in listed]
    assert not missing, f"add these to the Endpoints table of docs/api.md: {missing}"
