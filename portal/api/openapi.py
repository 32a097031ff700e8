"""The OpenAPI 3.1 document at /api/v1/openapi.json, made from the route table and the schemas."""

from __future__ import annotations

from functools import cache
from typing import Any

from portal.api.schemas import SCHEMAS


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


@cache
def document() -> dict[str, Any]:
    from portal.api.blueprint import ROUTES

    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        if route.public:
            continue
        operation: dict[str, Any] = {"operationId": route.operation, "summary": route.summary}
        parameters: list[dict[str, Any]] = []
        if "{id}" in route.path:
            parameters.append({"name": "id", "in": "path", "required": True, "schema": {"type": "string"}})
        for name, schema in route.query.items():
            parameters.append({"name": name, "in": "query", "required": False, "schema": schema})
        if route.method == "POST":
            parameters.append(
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                    "description": "Same key and body replay the first answer for 24 h; another body: 422; "
                    "in flight: 409.",
                }
            )
        if parameters:
            operation["parameters"] = parameters
        if route.body:
            operation["requestBody"] = {
                "required": route.method != "POST" or route.body not in ("PaymentCancel", "PaymentCapture"),
                "content": {"application/json": {"schema": _ref(route.body)}},
            }
        response_schema = _ref(route.response) if isinstance(route.response, str) else route.response
        operation["responses"] = {
            str(route.status): {
                "description": "OK",
                "content": {"application/json": {"schema": response_schema}},
            },
            "default": {"description": "Error", "content": {"application/json": {"schema": _ref("Error")}}},
        }
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Kassa API",
            "version": "v1",
            "description": "Amounts are integers in the currency's minor unit. Errors: "
            '{"error": {"type", "code", "message", "param"}}.',
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"secretKey": []}],
        "components": {
            "securitySchemes": {"secretKey": {"type": "http", "scheme": "bearer"}},
            "schemas": SCHEMAS,
        },
        "paths": paths,
    }
