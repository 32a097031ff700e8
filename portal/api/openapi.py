"""The OpenAPI 3.1 document at /api/v1/openapi.json, made from the route table and the schemas.

The route table (blueprint.py) holds this document's own route, so it hands itself over when it registers
(`describe(ROUTES)`) instead of being imported from here: the two modules form no import cycle."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from portal.api.schemas import ID_PARAM, SCHEMAS

if TYPE_CHECKING:
    from portal.api.routing import Route

#: Routes that call the payment processor, which may be briefly unreachable (503, safe to retry).
PROCESSOR_ROUTES = frozenset({"capturePayment", "cancelPayment", "createRefund"})

_ERRORS = {
    400: "Invalid request: a missing, unknown or malformed parameter (named in `error.param`), or a "
    "request the object's state does not allow",
    401: "No valid secret key in 'Authorization: Bearer sk_…'",
    403: "The key does not hold the permission this operation needs (`x-kassa-permission`): a "
    "restricted key holds only the permissions it was created with",
    404: "No such object (ids of another tenant or of the other mode are not found either)",
    409: "A request with this Idempotency-Key is still in flight, or the object's state conflicts",
    422: "This Idempotency-Key was used with another request",
    503: "The payment processor did not answer; retrying with the same Idempotency-Key is safe",
}

_REQUEST_ID = {
    "description": "The request's id, for support; echoes a well-formed incoming X-Request-Id",
    "schema": {"type": "string"},
}
_REPLAYED = {
    "description": "`true` when this is the stored answer to an earlier request with the same "
    "Idempotency-Key",
    "schema": {"const": "true"},
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _parameters(route: Route) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = []
    if "{id}" in route.path:
        parameters.append({"name": "id", "in": "path", "required": True, "schema": ID_PARAM})
    for name, schema in route.query.items():
        parameters.append(
            {"name": name, "in": "query", "required": name in route.required_query, "schema": schema}
        )
    if route.method == "POST":
        parameters.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "\\S"},
                "description": "Same key and body replay the first answer for 24 h; another body: 422; "
                "in flight: 409. Keys are scoped by account. A UUID is ideal.",
            }
        )
    return parameters


def _error_codes(route: Route) -> list[int]:
    codes = [400, 401, 403]
    if "{id}" in route.path or route.body == "RefundCreate":
        codes.append(404)
    if route.method == "POST":
        codes += [409, 422]
    if route.operation in PROCESSOR_ROUTES:
        codes.append(503)
    return codes


def _responses(route: Route) -> dict[str, Any]:
    headers: dict[str, Any] = {"X-Request-Id": _REQUEST_ID}
    if route.method == "POST":
        headers["Idempotent-Replayed"] = _REPLAYED
    response_schema = _ref(route.response) if isinstance(route.response, str) else route.response
    responses: dict[str, Any] = {
        str(route.status): {
            "description": "Created" if route.status == 201 else "OK",
            "headers": headers,
            "content": {"application/json": {"schema": response_schema}},
        }
    }
    if route.accepted is not None:
        responses["202"] = {
            "description": "Held for a second person's approval (four-eyes): nothing was done yet",
            "headers": headers,
            "content": {"application/json": {"schema": _ref(route.accepted)}},
        }
    for code in _error_codes(route):
        responses[str(code)] = {
            "description": _ERRORS[code],
            "headers": headers,
            "content": {"application/json": {"schema": _ref("Error")}},
        }
    responses["default"] = {
        "description": "Any other error (405, 413, 429, 5xx), in the same shape",
        "headers": headers,
        "content": {"application/json": {"schema": _ref("Error")}},
    }
    return responses


_routes: tuple[Route, ...] = ()


def describe(routes: Sequence[Route]) -> None:
    """Make `routes` the table the document describes (blueprint.py, as it registers the table)."""
    global _routes
    _routes = tuple(routes)
    document.cache_clear()


@cache
def document() -> dict[str, Any]:
    if not _routes:
        raise RuntimeError("no API route table: portal.api.blueprint hands it over with describe(ROUTES)")
    paths: dict[str, dict[str, Any]] = {}
    for route in _routes:
        if route.public:
            continue
        operation: dict[str, Any] = {
            "operationId": route.operation,
            "summary": route.summary,
            "x-kassa-permission": str(route.permission),
        }
        parameters = _parameters(route)
        if parameters:
            operation["parameters"] = parameters
        if route.body:
            schema = SCHEMAS[route.body]
            operation["requestBody"] = {
                # A body whose every field is optional may be left out altogether (it means {}).
                "required": bool(schema.get("required")),
                "content": {"application/json": {"schema": _ref(route.body)}},
            }
        operation["responses"] = _responses(route)
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Kassa API",
            "version": "v1",
            "description": "Amounts are integers in the currency's minor unit, written without a decimal "
            "point. Strings must not contain NUL (U+0000). Lists are newest first and cursor-paginated "
            "with `limit` and one of `starting_after` or `ending_before`. Errors: "
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
