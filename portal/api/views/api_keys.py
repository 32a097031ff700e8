"""API keys: list the caller's mode's keys, roll and revoke one."""

from __future__ import annotations

from typing import Any

from flask import Response

from core.errors import PermissionDenied
from core.web.request import runtime, uow
from portal.api.auth import caller
from portal.api.routing import json_response
from tenants import api_keys


def list_api_keys() -> Response:
    now = runtime().clock.now()
    keys = api_keys.list_keys(uow().session, livemode=caller().livemode)
    return json_response(
        {"object": "list", "data": [api_keys.serialize(k, now=now) for k in keys], "has_more": False}
    )


def _may_manage(key_id: str) -> None:
    # A restricted key never rolls (so obtains) or revokes a key that holds more than it does.
    who = caller()
    record = api_keys.get_key(uow().session, key_id=key_id, livemode=who.livemode)
    if not api_keys.permissions_of(record) <= who.permissions:
        raise PermissionDenied(
            f"API key {key_id} holds permissions this key does not; only a key holding all of them may "
            "roll or revoke it.",
            param="id",
        )


def roll_api_key(id: str, body: dict[str, Any]) -> Response:
    rt, who = runtime(), caller()
    _may_manage(id)
    rolled = api_keys.roll(
        uow().session,
        who.context(),
        key_id=id,
        livemode=who.livemode,
        overlap=api_keys.overlap_from_seconds(
            body.get("overlap_seconds", int(api_keys.DEFAULT_OVERLAP.total_seconds()))
        ),
    )
    now = rt.clock.now()
    return json_response(
        {
            **api_keys.serialize(rolled.new, now=now),
            "secret": rolled.key,
            "replaced": api_keys.serialize(rolled.old, now=now),
        },
        201,
    )


def revoke_api_key(id: str, body: dict[str, Any]) -> Response:
    rt, who = runtime(), caller()
    _may_manage(id)
    record = api_keys.revoke(uow().session, who.context(), key_id=id, livemode=who.livemode)
    return json_response(api_keys.serialize(record, now=rt.clock.now()))
