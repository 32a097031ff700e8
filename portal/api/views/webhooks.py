"""Webhook endpoints: create, retrieve, update, delete, list; roll the secret; deliveries, resend, replay,
test event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Response

from core.context import Context
from core.db import get_by_id
from core.errors import NotFound
from core.jobs.runtime import Runtime
from core.web.request import context, runtime, uow
from core.webhooks import queries
from core.webhooks import service as webhooks
from core.webhooks.models import WebhookDelivery, WebhookEndpoint
from portal.api.auth import caller
from portal.api.pagination import cursor, envelope
from portal.api.routing import json_response


def _ctx() -> Context:
    return context(caller().actor())


def _policy(rt: Runtime) -> webhooks.Policy:
    return webhooks.Policy(allow_private=rt.settings.webhooks_allow_private)


def _endpoint(id: str) -> WebhookEndpoint:
    endpoint = webhooks.get_endpoint(uow().session, endpoint_id=id)
    if endpoint.livemode != caller().livemode:
        raise NotFound(f"No such webhook endpoint: {id!r}.", param="id")
    return endpoint


def create_webhook_endpoint(body: dict[str, Any]) -> Response:
    rt, who = runtime(), caller()
    endpoint, secret = webhooks.create_endpoint(
        uow().session,
        _ctx(),
        tenant_id=who.tenant_id,
        livemode=who.livemode,
        url=body["url"],
        events=body.get("events", ["*"]),
        description=body.get("description"),
        enabled=body.get("enabled", True),
        payload=body.get("payload", "full"),
        policy=_policy(rt),
    )
    return json_response(webhooks.serialize_endpoint(endpoint, secret=secret), 201)


def get_webhook_endpoint(id: str) -> Response:
    return json_response(webhooks.serialize_endpoint(_endpoint(id)))


def update_webhook_endpoint(id: str, body: dict[str, Any]) -> Response:
    rt = runtime()
    _endpoint(id)
    endpoint = webhooks.update_endpoint(
        uow().session, _ctx(), endpoint_id=id, changes=body, policy=_policy(rt)
    )
    return json_response(webhooks.serialize_endpoint(endpoint))


def delete_webhook_endpoint(id: str) -> Response:
    _endpoint(id)
    endpoint = webhooks.delete_endpoint(uow().session, _ctx(), endpoint_id=id)
    return json_response({"id": endpoint.id, "object": "webhook_endpoint", "deleted": True})


def list_webhook_endpoints(query: dict[str, Any]) -> Response:
    page = queries.list_endpoints(uow().session, livemode=caller().livemode, **cursor(query))
    return json_response(envelope(page, webhooks.serialize_endpoint))


def roll_webhook_secret(id: str, body: dict[str, Any]) -> Response:
    _endpoint(id)
    overlap = timedelta(seconds=body.get("overlap_seconds", int(webhooks.DEFAULT_OVERLAP.total_seconds())))
    endpoint, secret = webhooks.rotate_secret(uow().session, _ctx(), endpoint_id=id, overlap=overlap)
    return json_response(webhooks.serialize_endpoint(endpoint, secret=secret), 201)


def list_webhook_deliveries(id: str, query: dict[str, Any]) -> Response:
    endpoint = _endpoint(id)
    session = uow().session
    page = queries.list_deliveries(session, endpoint_id=endpoint.id, **cursor(query))
    attempts = queries.attempts_of(session, delivery_ids=[d.id for d in page.items])
    return json_response(envelope(page, lambda d: queries.serialize_delivery(d, attempts[d.id])))


def resend_webhook_delivery(id: str) -> Response:
    found = get_by_id(uow().session, WebhookDelivery, id, prefix="whd", what="webhook delivery")
    _endpoint(found.endpoint_id)  # another mode's endpoint: not found either
    delivery = webhooks.resend(uow().session, _ctx(), delivery_id=id)
    return json_response(queries.serialize_delivery(delivery))


def replay_webhook_endpoint(id: str, body: dict[str, Any]) -> Response:
    _endpoint(id)
    since = datetime.fromtimestamp(body["since"], UTC)
    replayed = webhooks.replay(uow().session, _ctx(), endpoint_id=id, since=since)
    return json_response({"object": "webhook_replay", "replayed": len(replayed)})


def send_test_webhook(id: str) -> Response:
    _endpoint(id)
    delivery = webhooks.send_test_event(uow().session, _ctx(), endpoint_id=id)
    return json_response(queries.serialize_delivery(delivery), 201)
