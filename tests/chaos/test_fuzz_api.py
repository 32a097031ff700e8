"""Issue 17, fuzzed input: schemathesis against /api/v1/openapi.json, in process (the Flask app over WSGI),
with the secret key of a seeded tenant on the real PostgreSQL and Redis.

Every operation of the document gets schema-valid and schema-invalid requests drawn by Hypothesis, bounded
(a few per operation inside `make test`, a hundred under `make chaos`) and derandomized. Each answer must be
no 5xx and must match the document (status code, content type, headers, body schema), as in
tests/portal/test_api_schema.py, whose seeded tenant and request preparation this run reuses: that test
walks schemathesis' coverage phase too; this one counts what it sent, for the figures table.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.result import Ok

from portal.api.openapi import document
from tests.chaos import figures
from tests.portal.test_api_schema import EXCLUDED_CHECKS, Seeded, _prepare, _security_headers
from tests.portal.test_api_schema import seeded as seeded  # the fixture, under its own name

#: Per operation and generation mode; KASSA_CHAOS_API_EXAMPLES digs deeper locally.
EXAMPLES = int(os.environ.get("KASSA_CHAOS_API_EXAMPLES", figures.size(1, 100)))


def test_schemathesis_finds_no_5xx_and_no_undocumented_answer(app: Flask, seeded: Seeded) -> None:
    schema = schemathesis.openapi.from_dict(document())
    schema.config.generation.update(with_security_parameters=False)
    schema.app = app
    operations = requests = server_errors = 0
    failures: list[str] = []

    def run(case: Any) -> None:
        nonlocal requests, server_errors
        _prepare(case, seeded)
        response = case.call(headers=seeded.headers)
        requests += 1
        if response.status_code >= 500:
            server_errors += 1
        try:
            case.validate_response(
                response,
                headers=seeded.headers,
                excluded_checks=EXCLUDED_CHECKS,
                additional_checks=[_security_headers],
            )
        except Exception as error:  # a check failed: keep going, so the figures count the whole run
            failures.append(f"{case.operation.label}: {error}\n    {case.as_curl_command()}")

    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        operation.app = app
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz = settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )(given(case=operation.as_strategy(generation_mode=mode))(run))
            try:
                fuzz()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, operation.label  # nothing to make invalid

    figures.record(
        "schemathesis: the API against its OpenAPI document",
        zero=("5xx", "failed_checks"),
        operations=operations,
        requests=requests,
        **{"5xx": server_errors, "failed_checks": len(failures)},
    )
    assert operations == sum(len(methods) for methods in document()["paths"].values())
    assert requests >= operations
    assert not failures, "\n".join(failures[:20])
