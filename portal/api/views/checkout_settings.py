"""Checkout settings: read and change the caller's mode's settings."""

from __future__ import annotations

from typing import Any

from flask import Response

from core.web.request import uow
from portal.api.auth import caller
from portal.api.routing import json_response
from tenants import checkout_settings


def get_checkout_settings() -> Response:
    who = caller()
    return json_response(
        checkout_settings.view(uow().session, tenant_id=who.tenant_id, livemode=who.livemode)
    )


def patch_checkout_settings(body: dict[str, Any]) -> Response:
    who = caller()
    result = checkout_settings.update(
        uow().session, who.context(), tenant_id=who.tenant_id, livemode=who.livemode, changes=body
    )
    return json_response(result)
