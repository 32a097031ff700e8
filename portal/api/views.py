"""API handlers: parse, call one service, answer JSON."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from core.errors import InvalidInput
from core.web.request import runtime, uow
from portal.api.auth import caller
from portal.api.openapi import document
from tenants import checkout_settings


def json_body() -> dict[str, Any]:
    if not request.is_json:
        raise InvalidInput("Send a JSON object with 'Content-Type: application/json'.")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput("The request body must be a JSON object.")
    return body


def get_checkout_settings() -> Response:
    return jsonify(checkout_settings.view(uow().session, tenant_id=caller().tenant_id))


def patch_checkout_settings() -> Response:
    rt = runtime()
    who = caller()
    result = checkout_settings.update(
        uow().session,
        tenant_id=who.tenant_id,
        changes=json_body(),
        actor=who.actor(),
        clock=rt.clock,
        kms=rt.kms,
    )
    return jsonify(result)


def openapi() -> Response:
    return jsonify(document())
