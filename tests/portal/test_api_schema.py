"""Property-based run of schemathesis against /api/v1/openapi.json, through the Flask app (WSGI).

Every operation of the document gets schema-valid and schema-invalid requests with a valid test secret
key; every answer must be no 5xx and must match the document (status code, content type, headers, body
schema), and invalid input must be refused with a 4xx.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from core.jobs.runtime import Runtime
from tests.factories import TenantFactory
from tests.payments_helpers import confirm, create_session, work_until_settled


@dataclass
class Seeded:
    key: str
    #: Path template -> ids of real objects of the tenant, used for some of the generated path ids.
    ids: dict[str, list[str]]


@pytest.fixture
def seeded(app: Flask, clean: Runtime) -> Seeded:
    tenant = TenantFactory(clean)()
    client = app.test_client()
    cs = create_session(client, tenant, amount=10_000)
    open_cs = create_session(client, tenant, amount=1234, capture="manual")
    payment_id = confirm(clean, tenant, cs["id"])
    assert str(work_until_settled(clean, tenant, payment_id).status) == "succeeded"
    key = {"Authorization": f"Bearer {tenant.keys.secret_key}"}
    refund = client.post("/api/v1/refunds", json={"payment": payment_id, "amount": 100}, headers=key)
    assert refund.status_code == 201, refund.json
    events = client.get("/api/v1/events?limit=3", headers=key).json["data"]
    return Seeded(
        key=tenant.keys.secret_key,
        ids={
            "/checkout/sessions/{id}": [cs["id"], open_cs["id"]],
            "/checkout/sessions/{id}/expire": [open_cs["id"]],
            "/payments/{id}": [payment_id],
            "/payments/{id}/capture": [payment_id],
            "/payments/{id}/cancel": [payment_id],
            "/refunds/{id}": [refund.json["id"]],
            "/events/{id}": [e["id"] for e in events],
        },
    )


@pytest.fixture
def api_schema(app: Flask, seeded: Seeded) -> Any:
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


STATS = {}


def _fuzz(operation: Any, mode: GenerationMode, seeded: Seeded) -> None:
    headers = {"Authorization": f"Bearer {seeded.key}"}
    real = seeded.ids.get(operation.path)

    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    @settings(
        max_examples=int(__import__("os").environ.get("ST_N", "25")),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any, data: st.DataObject) -> None:
        if real and mode is GenerationMode.POSITIVE and data.draw(st.booleans(), label="real id"):
            case.path_parameters = {**(case.path_parameters or {}), "id": data.draw(st.sampled_from(real))}
        r = case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])
        STATS.setdefault((operation.label, str(mode)), []).append(r.status_code)
        if r.status_code < 300 and mode is GenerationMode.NEGATIVE:
            print("NEG2xx", operation.label, case.path_parameters, case.query, case.headers, case.body)

    run()


def test_every_operation_answers_as_documented(api_schema: Any, seeded: Seeded) -> None:
    failures: list[str] = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, mode, seeded)
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{operation.label} [{mode}]: {exc}")
    import collections

    for k, v in STATS.items():
        print(k, sorted(collections.Counter(v).items()))
    assert not failures, "\n\n".join(failures)
