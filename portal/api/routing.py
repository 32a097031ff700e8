"""The API's route table: every route with its schemas. URL rules, request validation and the OpenAPI
document are all made from this one list, so they cannot drift apart."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from flask import Blueprint, Response, jsonify, request
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

from core import money
from core.errors import InvalidInput, PermissionDenied
from core.web.access import PUBLIC, declare
from portal.api import idempotency
from portal.api.auth import caller
from portal.api.schemas import AMOUNT, ID_PARAM, SCHEMAS
from tenants.permissions import Permission, can


@dataclass(frozen=True)
class Route:
    method: str
    #: OpenAPI-style path under /api/v1, e.g. "/payments/{id}".
    path: str
    operation: str
    handler: Callable[..., Response]
    summary: str
    #: Name of the request body schema (in SCHEMAS), or None.
    body: str | None = None
    #: Name of the response schema, or a ready schema (lists).
    response: str | dict[str, Any] | None = None
    status: int = 200
    #: Query parameters: name -> JSON schema (strings are parsed to integers where the schema says so).
    query: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The query parameters a caller must give.
    required_query: tuple[str, ...] = ()
    #: What the caller's key must hold (tenants/permissions.py); checked before the handler runs. Every
    #: route names one or is `public`: a route with neither is refused (403) and fails a test.
    permission: Permission | None = None
    public: bool = False
    #: Answer fields that are shown once (a new key): an Idempotency-Key replay answers them as null, so
    #: the secret is never kept in the idempotency record.
    secret_fields: tuple[str, ...] = ()
    #: The schema of a 202 answer: the request was held for a second person's approval (tenants/approvals.py)
    #: and nothing was done yet.
    accepted: str | None = None

    @property
    def rule(self) -> str:
        return self.path.replace("{", "<").replace("}", ">")


# JSON's 10.0 is an integer to JSON Schema, but an amount written with a decimal point is a caller thinking
# in major units: "integer" means a number written without a fraction or exponent.
_TYPES = Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)
)
_Validator = validators.extend(Draft202012Validator, type_checker=_TYPES)
_VALIDATORS = {name: _Validator(schema) for name, schema in SCHEMAS.items()}


def _param_of(error: ValidationError) -> str | None:
    if error.validator == "required":
        missing = error.message.split("'")
        return missing[1] if len(missing) > 1 else None
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - allowed)
        return extra[0] if extra else None
    # The top-level field is what a client can act on ("allowed_origins", not "allowed_origins.0").
    return str(error.absolute_path[0]) if error.absolute_path else None


def _amount_bound(error: ValidationError, param: str | None, body: dict[str, Any]) -> str:
    """An amount schema's minimum or maximum in money, never as a bare count of minor units: in the body's
    currency when it names one (a refund's or a capture's is the payment's: EUR stands in)."""
    try:
        currency = money.validate_currency(body.get("currency"))
    except InvalidInput:
        currency = "EUR"
    bound = money.amount_text(int(error.validator_value), currency)
    word = "at least" if error.validator == "minimum" else "at most"
    example = money.amount_text(1050, currency)
    return (
        f"{param} must be {word} {bound}: an integer in the currency's minor unit, e.g. 1050 for {example}."
    )


def _explain(error: ValidationError, param: str | None, body: dict[str, Any] | None = None) -> str:
    # A nullable amount is `anyOf: [amount, null]`: the amount branch's bound is the one to explain.
    for candidate in [error, *(error.context or ())]:
        if (
            candidate.validator in ("minimum", "maximum")
            and candidate.schema.get("description") == (AMOUNT["description"])
        ):
            return _amount_bound(candidate, param, body or {})
    if error.validator == "required":
        return f"{param} is required."
    if error.validator == "additionalProperties":
        return f"Unknown field {param!r}."
    if error.validator == "type":
        return f"{param} must be of type {error.validator_value}."
    if error.validator in ("enum", "const"):
        return f"{param} must be one of {error.validator_value}."
    if error.validator == "pattern" and error.validator_value == ID_PARAM["pattern"]:
        return f"{param} must be an id, like pay_01jd8x3m4n5p6q7r8s9t0v1w2x."
    if error.validator == "pattern":
        return f"{param} does not have the expected form ({error.validator_value})."
    return f"{param or 'The request'} is invalid: {error.message[:200]}"


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are Python's extensions, not JSON.
    raise ValueError(f"{name} is not JSON")


def _bad_text(value: str) -> str | None:
    """Why a string cannot be stored, or None: PostgreSQL text holds no NUL, UTF-8 no lone surrogate."""
    if "\x00" in value:
        return "must not contain NUL (U+0000) characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode (no unpaired surrogates)"
    return None


def _check_text(value: object, param: str | None) -> None:
    """Refuse strings (keys too) that no database column could hold, anywhere in `value`."""
    pending = [value]
    while pending:  # iterative: JSON nested as deep as the parser allows must not overflow the stack
        item = pending.pop()
        if isinstance(item, str):
            problem = _bad_text(item)
            if problem:
                raise InvalidInput(f"{param or 'Field names'} {problem}.", param=param)
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def validate_body(schema: str) -> dict[str, Any]:
    if not request.get_data():
        body: object = {}
    else:
        if not request.is_json:
            raise InvalidInput("Send a JSON object with 'Content-Type: application/json'.")
        try:
            body = json.loads(request.get_data(), parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            raise InvalidInput("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise InvalidInput("The request body must be a JSON object.")
    _check_text(list(body), None)
    for key, value in body.items():
        _check_text(value, key)
    errors = sorted(_VALIDATORS[schema].iter_errors(body), key=lambda e: [str(p) for p in e.path])
    error = next(iter(errors), None)
    if error is not None:
        param = _param_of(error)
        raise InvalidInput(_explain(error, param, body), param=param)
    return body


_INTEGER = re.compile(r"-?[0-9]{1,20}")


def validate_query(spec: dict[str, dict[str, Any]], required: Sequence[str] = ()) -> dict[str, Any]:
    unknown = sorted(set(request.args) - set(spec))
    if unknown:
        raise InvalidInput(f"Unknown query parameter {unknown[0]!r}.", param=unknown[0])
    values: dict[str, Any] = {}
    for name, schema in spec.items():
        given = request.args.getlist(name)
        if not given:
            if name in required:
                raise InvalidInput(f"The query parameter {name} is required.", param=name)
            continue
        if len(given) > 1:
            raise InvalidInput(f"{name} is given more than once.", param=name)
        raw = given[0]
        problem = _bad_text(raw)
        if problem:
            raise InvalidInput(f"{name} {problem}.", param=name)
        value: Any = raw
        if schema.get("type") == "integer":
            # Digits only: int() would also take " 5", "1_0" and non-ASCII digits.
            if not _INTEGER.fullmatch(raw):
                raise InvalidInput(f"{name} must be a whole number.", param=name)
            value = int(raw)
        error = next(iter(_Validator(schema).iter_errors(value)), None)
        if error is not None:
            raise InvalidInput(_explain(error, name), param=name)
        values[name] = value
    return values


def register(bp: Blueprint, routes: list[Route]) -> None:
    for route in routes:
        bp.add_url_rule(route.rule, route.operation, _wrap(route), methods=[route.method])


def _wrap(route: Route) -> Callable[..., Response]:
    @wraps(route.handler)
    def view(**path_args: str) -> Response:
        if not route.public:
            check_access(route)

        def run() -> Response:
            kwargs: dict[str, Any] = dict(path_args)
            if route.body is not None:
                kwargs["body"] = validate_body(route.body)
            query = validate_query(
                route.query, route.required_query
            )  # a route without query parameters refuses any
            if route.query:
                kwargs["query"] = query
            response = route.handler(**kwargs)
            response.status_code = route.status if response.status_code == 200 else response.status_code
            return response

        if route.method == "POST":
            return idempotency.guarded(run, secret_fields=route.secret_fields)
        return run()

    access = PUBLIC if route.public else route.permission
    if access is not None:
        declare(view, access)
    return view


def check_access(route: Route) -> None:
    """Refuse a caller whose key lacks the route's permission (and any caller of an undeclared route).
    It does not depend on the object named in the URL, so it tells nothing about another tenant's."""
    if route.permission is None:
        raise PermissionDenied(f"{route.method} {route.path} declares no permission, so no key may use it.")
    if not can(caller(), route.permission):
        raise PermissionDenied(
            f"This API key does not hold the {route.permission} permission that {route.method} "
            f"/api/v1{route.path} needs. Use a key that holds it (a secret key holds every permission of "
            "its mode; a restricted key only those it was created with)."
        )


def json_response(data: Any, status: int = 200) -> Response:
    response = jsonify(data)
    response.status_code = status
    return response
