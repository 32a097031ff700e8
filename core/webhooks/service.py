"""Webhook endpoints and deliveries: the operations (each takes the session and the call's context).

A delivery's life (docs/webhooks.md): the events subscriber (core/webhooks/jobs.py `on_event`) makes one
pending delivery per matching endpoint and queues its job on `webhooks`; each attempt POSTs the signed body
to the pinned address; any 2xx succeeds; a failure is retried on `RETRY_SCHEDULE` (with jitter) through
the outbox (delayed jobs, so time travel in tests moves them); after the last retry the delivery is dead,
the endpoint failing and `webhook_endpoint.failing` is emitted (the merchant's alert). `410 Gone` disables
the endpoint at once.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import events
from core.audit import actions
from core.audit import service as audit
from core.audit.models import Outcome
from core.clock import system_clock
from core.context import Context
from core.db import cached, get_by_id, transaction_memo
from core.errors import Conflict, InvalidInput, NotFound
from core.events.models import Event
from core.events.types import EventType
from core.ids import new_id
from core.keys import service as keys
from core.kms import KMS
from core.webhooks import addresses, signing
from core.webhooks.http import Answer
from core.webhooks.models import (
    DeliveryStatus,
    EndpointStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

log = logging.getLogger(__name__)

DELIVER_JOB: Final = "core.webhooks.jobs.deliver"
PURPOSE: Final = "webhook"
#: Seconds before each retry of a failed delivery, before jitter: the first within 30 s, then backing off
#: to about three days in all (71 h 35 min). 1 + 10 attempts.
RETRY_SCHEDULE: Final = (5, 300, 1800, 7200, 18000, 36000, 36000, 50400, 50400, 57600)
#: Each delay is stretched or shrunk by up to this share (so retries of many deliveries spread out).
JITTER: Final = 0.1
#: An endpoint whose slots are all taken: its delivery waits this long and asks again (fair queueing).
BUSY_RETRY: Final = timedelta(seconds=2)
#: A pending delivery this long overdue has lost its job: the sweeper queues it again.
LOST_AFTER: Final = timedelta(minutes=2)
#: After an endpoint starts hearing events (created, enabled, subscribed to more types), its catch-up runs
#: at these delays: it delivers the events emitted since then by transactions that checked for endpoints
#: before the change committed (see `wants_event`).
CATCH_UP_AFTER: Final = (timedelta(seconds=30), timedelta(minutes=10))
#: ... those made this long before the change too (clocks of two servers differ a little).
CATCH_UP_MARGIN: Final = timedelta(seconds=5)
CATCH_UP_JOB: Final = "core.webhooks.jobs.catch_up"
_MEMO_KEY: Final = "webhook_subscriptions"
MAX_OVERLAP: Final = timedelta(days=7)
DEFAULT_OVERLAP: Final = timedelta(hours=24)
#: Event types Kassa emits for people (the notification center hears them), not for merchants' servers:
#: an endpoint that fails is told so in the portal and by email, not by one more webhook.
INTERNAL_TYPES: Final = frozenset({EventType.WEBHOOK_ENDPOINT_FAILING})
#: What an endpoint may subscribe to (besides "*": every one of them): every other event type.
DELIVERABLE_TYPES: Final = tuple(str(t) for t in EventType if t not in INTERNAL_TYPES)
TEST_EVENT_TYPE: Final = "webhook_endpoint.test"


@dataclass(frozen=True)
class Policy:
    """Where endpoints may point (Settings: KASSA_WEBHOOKS_ALLOW_PRIVATE) and how names resolve."""

    allow_private: bool = False
    resolver: addresses.Resolver | None = None

    def check(self, url: str, *, livemode: bool) -> addresses.Target:
        # Looked up at call time: a test swaps the module's resolver for a stub.
        return addresses.check(
            url,
            livemode=livemode,
            allow_private=self.allow_private,
            resolver=self.resolver or addresses.system_resolver,
        )


class EndpointDisabled(Conflict):
    code = "webhook_endpoint_disabled"


class EventPruned(Conflict):
    """The delivery's event is past retention (KASSA_EVENT_RETENTION_DAYS) and was deleted."""

    code = "webhook_event_pruned"


# --- endpoints ----------------------------------------------------------------------------------------


def serialize_endpoint(endpoint: WebhookEndpoint, *, secret: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": endpoint.id,
        "object": "webhook_endpoint",
        "url": endpoint.url,
        "description": endpoint.description,
        "events": list(endpoint.events),
        "payload": endpoint.payload,
        "enabled": endpoint.enabled,
        "status": str(endpoint.status),
        "disabled_reason": endpoint.disabled_reason,
        "failing_since": _ts(endpoint.failing_since),
        "secret_rotation_ends_at": _ts(endpoint.previous_secret_expires_at),
        "created_at": _ts(endpoint.created_at),
        "livemode": endpoint.livemode,
    }
    if secret is not None:
        data["secret"] = secret
    return data


def _ts(value: datetime | None) -> int | None:
    return int(value.timestamp()) if value is not None else None


def _events(value: object) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise InvalidInput('events must be a list of event types, or ["*"] for every type.', param="events")
    chosen = list(dict.fromkeys(value))
    if "*" in chosen:
        if len(chosen) > 1:
            raise InvalidInput('"*" (every type) stands alone in events.', param="events")
        return chosen
    unknown = [v for v in chosen if v not in DELIVERABLE_TYPES]
    if unknown:
        raise InvalidInput(
            f"Unknown event type {unknown[0]!r}; the types are: {', '.join(DELIVERABLE_TYPES)}.",
            param="events",
        )
    return chosen


def _seal(session: Session, ctx: Context, endpoint_id: str, tenant_id: str, secret: str) -> bytes:
    return keys.seal(
        session,
        tenant_id=tenant_id,
        purpose=PURPOSE,
        plaintext=secret.encode(),
        kms=ctx.kms,
        aad=f"webhook_endpoint:{endpoint_id}".encode(),
        clock=ctx.clock,
    )


def _unseal(session: Session, kms: KMS, endpoint: WebhookEndpoint, blob: bytes) -> str:
    return keys.unseal(
        session,
        tenant_id=endpoint.tenant_id,
        purpose=PURPOSE,
        blob=blob,
        kms=kms,
        aad=f"webhook_endpoint:{endpoint.id}".encode(),
    ).decode()


def _audit(
    session: Session,
    ctx: Context,
    action: str,
    endpoint: WebhookEndpoint,
    details: dict[str, Any] | None = None,
    *,
    outcome: Outcome = Outcome.SUCCESS,
) -> None:
    audit.record(session, ctx, action, subject=endpoint, details=details, outcome=outcome)


def create_endpoint(
    session: Session,
    ctx: Context,
    *,
    tenant_id: str,
    livemode: bool,
    url: str,
    events: object = ("*",),
    description: str | None = None,
    enabled: bool = True,
    payload: str = "full",
    policy: Policy,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret (shown once: only its sealed form is kept)."""
    policy.check(url, livemode=livemode)  # refused before anything is stored or connected to
    chosen = _events(list(events) if isinstance(events, tuple) else events)
    if payload not in ("full", "thin"):
        raise InvalidInput('payload must be "full" or "thin".', param="payload")
    now = ctx.clock.now()
    endpoint_id = new_id("we")
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(
        tenant_id=tenant_id,
        id=endpoint_id,
        url=url,
        description=description,
        events=chosen,
        payload=payload,
        enabled=enabled,
        status=EndpointStatus.ACTIVE if enabled else EndpointStatus.DISABLED,
        livemode=livemode,
        secret_sealed=_seal(session, ctx, endpoint_id, tenant_id, secret),
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    session.flush()
    _subscriptions_changed(session, ctx, endpoint, hears_more=enabled)
    _audit(session, ctx, actions.WEBHOOK_ENDPOINT_CREATED, endpoint, {"url": url, "events": chosen})
    return endpoint, secret


def get_endpoint(session: Session, *, endpoint_id: str, lock: bool = False) -> WebhookEndpoint:
    endpoint = get_by_id(
        session, WebhookEndpoint, endpoint_id, prefix="we", what="webhook endpoint", lock=lock
    )
    if endpoint.deleted_at is not None:
        raise NotFound(f"No such webhook endpoint: {endpoint_id!r}.", param="id")
    return endpoint


def update_endpoint(
    session: Session, ctx: Context, *, endpoint_id: str, changes: dict[str, Any], policy: Policy
) -> WebhookEndpoint:
    endpoint = get_endpoint(session, endpoint_id=endpoint_id, lock=True)
    before = {"url": endpoint.url, "events": list(endpoint.events), "enabled": endpoint.enabled}
    was_enabled, old_types = endpoint.enabled, list(endpoint.events)
    if "url" in changes:
        policy.check(changes["url"], livemode=endpoint.livemode)
        endpoint.url = changes["url"]
    if "events" in changes:
        endpoint.events = _events(changes["events"])
    if "description" in changes:
        endpoint.description = changes["description"]
    if "payload" in changes:
        if changes["payload"] not in ("full", "thin"):
            raise InvalidInput('payload must be "full" or "thin".', param="payload")
        endpoint.payload = changes["payload"]
    if "enabled" in changes:
        endpoint.enabled = bool(changes["enabled"])
        if endpoint.enabled:
            endpoint.disabled_reason = None
            if endpoint.status is EndpointStatus.DISABLED:
                endpoint.status = EndpointStatus.ACTIVE
        else:
            endpoint.status = EndpointStatus.DISABLED
    endpoint.updated_at = ctx.clock.now()
    session.flush()
    after = {"url": endpoint.url, "events": list(endpoint.events), "enabled": endpoint.enabled}
    newly_on = endpoint.enabled and not was_enabled
    more_types = endpoint.enabled and _hears_more(old_types, list(endpoint.events))
    _subscriptions_changed(session, ctx, endpoint, hears_more=newly_on or more_types)
    _audit(
        session,
        ctx,
        actions.WEBHOOK_ENDPOINT_UPDATED,
        endpoint,
        {k: {"from": before[k], "to": after[k]} for k in after if before[k] != after[k]},
    )
    return endpoint


def delete_endpoint(session: Session, ctx: Context, *, endpoint_id: str) -> WebhookEndpoint:
    """Stop every delivery to it; its log stays (the row is kept, marked deleted)."""
    endpoint = get_endpoint(session, endpoint_id=endpoint_id, lock=True)
    now = ctx.clock.now()
    endpoint.deleted_at = now
    endpoint.enabled = False
    endpoint.status = EndpointStatus.DISABLED
    endpoint.updated_at = now
    _cancel_pending(session, endpoint, now)
    session.flush()
    _subscriptions_changed(session, ctx, endpoint, hears_more=False)
    _audit(session, ctx, actions.WEBHOOK_ENDPOINT_DELETED, endpoint, {"url": endpoint.url})
    return endpoint


def rotate_secret(
    session: Session, ctx: Context, *, endpoint_id: str, overlap: timedelta = DEFAULT_OVERLAP
) -> tuple[WebhookEndpoint, str]:
    """A new secret (shown once). For `overlap` the old one signs too: each delivery carries both
    signatures, so the receiver can switch secrets at its own pace. Zero overlap drops the old at once."""
    if overlap < timedelta(0) or overlap > MAX_OVERLAP:
        raise InvalidInput("The overlap must be between 0 seconds and 7 days.", param="overlap_seconds")
    endpoint = get_endpoint(session, endpoint_id=endpoint_id, lock=True)
    now = ctx.clock.now()
    secret = signing.new_secret()
    if overlap > timedelta(0):
        endpoint.previous_secret_sealed = endpoint.secret_sealed
        endpoint.previous_secret_expires_at = now + overlap
    else:
        endpoint.previous_secret_sealed = None
        endpoint.previous_secret_expires_at = None
    endpoint.secret_sealed = _seal(session, ctx, endpoint.id, endpoint.tenant_id, secret)
    endpoint.updated_at = now
    session.flush()
    _audit(
        session,
        ctx,
        actions.WEBHOOK_SECRET_ROTATED,
        endpoint,
        {"overlap_seconds": int(overlap.total_seconds())},
    )
    return endpoint, secret


def signing_secrets(session: Session, kms: KMS, endpoint: WebhookEndpoint, *, now: datetime) -> list[str]:
    """The secrets a delivery is signed with now: the current one, and the previous during its overlap."""
    current = [_unseal(session, kms, endpoint, endpoint.secret_sealed)]
    if (
        endpoint.previous_secret_sealed is not None
        and endpoint.previous_secret_expires_at is not None
        and endpoint.previous_secret_expires_at > now
    ):
        current.append(_unseal(session, kms, endpoint, endpoint.previous_secret_sealed))
    return current


# --- fan-out ------------------------------------------------------------------------------------------


def subscribes(endpoint: WebhookEndpoint, event_type: str) -> bool:
    if event_type in INTERNAL_TYPES:
        return False
    return "*" in endpoint.events or event_type in endpoint.events


def wants_event(session: Session, *, tenant_id: str, livemode: bool, event_type: str) -> bool:
    """Whether the tenant has an enabled endpoint of this mode subscribed to `event_type`: asked by
    `events.emit` (the subscriber's `wants`), so an event nobody will be sent costs no outbox row, job or
    fan-out. One query per transaction and tenant (the memo), however many events the transaction emits.

    The race with an endpoint created (enabled, subscribed to more types) meanwhile: a transaction that
    asked before that change committed skips the event. The change's catch-up (`catch_up`, queued by the
    change itself, run twice: after 30 s and 10 min) then delivers every event of the endpoint's mode and
    types made since the change (5 s before it) that it has no delivery of yet. So an endpoint receives
    every event made after it was created, and a transaction never waits on endpoint changes.
    """
    if event_type in INTERNAL_TYPES:
        return False
    memo: dict[str, list[tuple[bool, list[str]]]] = transaction_memo(session).setdefault(_MEMO_KEY, {})
    if tenant_id not in memo:

        def load() -> list[tuple[bool, list[str]]]:
            return [
                (bool(mode), list(types))
                for mode, types in session.execute(
                    select(WebhookEndpoint.livemode, WebhookEndpoint.events).where(
                        WebhookEndpoint.tenant_id == tenant_id,
                        WebhookEndpoint.enabled.is_(True),
                        WebhookEndpoint.deleted_at.is_(None),
                    )
                )
            ]

        # Kept in process while the tenant's endpoints are unchanged (core/tenant_cache.py): a change
        # commits a new cache version, so every transaction begun after it reads them again, as before.
        bound = session.info.get("tenant_id") == tenant_id
        memo[tenant_id] = cached(session, "webhooks", None, load) if bound else load()
    return any(mode == livemode and ("*" in types or event_type in types) for mode, types in memo[tenant_id])


def _hears_more(before: list[str], after: list[str]) -> bool:
    return ("*" in after and "*" not in before) or ("*" not in after and bool(set(after) - set(before)))


def _subscriptions_changed(
    session: Session, ctx: Context, endpoint: WebhookEndpoint, *, hears_more: bool
) -> None:
    """Forget what this transaction knew of the tenant's endpoints; when the endpoint now hears events it
    did not, queue its catch-up (see `wants_event`)."""
    transaction_memo(session).get(_MEMO_KEY, {}).pop(endpoint.tenant_id, None)
    if not hears_more:
        return
    since = ctx.clock.now() - CATCH_UP_MARGIN
    for delay in CATCH_UP_AFTER:
        ctx.jobs.enqueue(
            CATCH_UP_JOB,
            tenant_id=endpoint.tenant_id,
            kwargs={"tenant_id": endpoint.tenant_id, "endpoint_id": endpoint.id, "since": since.isoformat()},
            delay=delay,
        )


#: At most this many events per catch-up run (the ones made in the minutes around one endpoint change).
CATCH_UP_LIMIT: Final = 10_000


def catch_up(session: Session, ctx: Context, *, endpoint_id: str, since: datetime) -> list[WebhookDelivery]:
    """A delivery to the endpoint of each event of its mode and types made since `since` that it has none
    of yet: the events whose emitting transaction asked `wants_event` before the endpoint's change
    committed. Safe to run twice (the unique key), and alongside the normal fan-out."""
    endpoint = session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id))
    if endpoint is None or not endpoint.enabled or endpoint.deleted_at is not None:
        return []
    query = select(Event.id, Event.type).where(Event.livemode == endpoint.livemode, Event.created_at >= since)
    if "*" not in endpoint.events:
        query = query.where(Event.type.in_(list(endpoint.events)))
    found = [
        (event_id, type_)
        for event_id, type_ in session.execute(query.order_by(Event.id).limit(CATCH_UP_LIMIT))
        if type_ not in INTERNAL_TYPES
    ]
    if not found:
        return []
    existing = set(
        session.scalars(
            select(WebhookDelivery.event_id).where(
                WebhookDelivery.endpoint_id == endpoint.id,
                WebhookDelivery.event_id.in_([event_id for event_id, _ in found]),
            )
        )
    )
    made: list[WebhookDelivery] = []
    now = ctx.clock.now()
    for event_id, type_ in found:
        if event_id in existing:
            continue
        try:
            made.append(_new_delivery(session, ctx, endpoint, event_id=event_id, event_type=type_, now=now))
        except Conflict:
            continue  # the normal fan-out made it meanwhile
    if made:
        log.info("webhook catch-up: %d deliveries for %s", len(made), endpoint.id)
    return made


def fan_out(session: Session, ctx: Context, *, event_id: str) -> list[WebhookDelivery]:
    """One pending delivery per enabled endpoint of the event's mode that subscribes to its type, each
    queued. Safe to run twice: an event is delivered to an endpoint once (the unique key)."""
    # Endpoints first: most tenants have none, and then this one statement is the whole fan-out.
    endpoints = session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True), WebhookEndpoint.deleted_at.is_(None))
    ).all()
    if not endpoints:
        return []
    event = session.scalar(select(Event).where(Event.id == event_id))
    if event is None or event.type in INTERNAL_TYPES:
        return []
    wanted = [e for e in endpoints if e.livemode == event.livemode and subscribes(e, event.type)]
    if not wanted:
        return []
    existing = set(
        session.scalars(select(WebhookDelivery.endpoint_id).where(WebhookDelivery.event_id == event.id))
    )
    made: list[WebhookDelivery] = []
    now = ctx.clock.now()
    for endpoint in wanted:
        if endpoint.id in existing:
            continue
        made.append(_new_delivery(session, ctx, endpoint, event_id=event.id, event_type=event.type, now=now))
    return made


def _new_delivery(
    session: Session,
    ctx: Context,
    endpoint: WebhookEndpoint,
    *,
    event_id: str | None,
    event_type: str,
    now: datetime,
) -> WebhookDelivery:
    delivery = WebhookDelivery(
        tenant_id=endpoint.tenant_id,
        id=new_id("whd"),
        endpoint_id=endpoint.id,
        event_id=event_id,
        event_type=event_type,
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(delivery)
            session.flush()
    except IntegrityError:
        # A concurrent fan-out of the same event made it first.
        raise Conflict("this event is being delivered to this endpoint already") from None
    _queue(ctx, delivery)
    return delivery


def _queue(ctx: Context, delivery: WebhookDelivery, delay: timedelta | None = None) -> None:
    ctx.jobs.enqueue(
        DELIVER_JOB,
        tenant_id=delivery.tenant_id,
        kwargs={"tenant_id": delivery.tenant_id, "delivery_id": delivery.id},
        delay=delay,
    )


# --- one attempt --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """What an attempt sends, worked out in a short transaction before the (slow) HTTP call."""

    delivery_id: str
    endpoint_id: str
    url: str
    livemode: bool
    body: bytes
    headers: dict[str, str]


def payload_of(session: Session, endpoint: WebhookEndpoint, delivery: WebhookDelivery) -> dict[str, Any]:
    """The body: `{"type", "timestamp", "data", "sequence"}` (docs/webhooks.md)."""
    if delivery.event_id is None:  # "Send test event"
        return {
            "type": delivery.event_type,
            "timestamp": delivery.created_at.isoformat().replace("+00:00", "Z"),
            "data": serialize_endpoint(endpoint),
            "sequence": 1,
        }
    event = session.scalar(select(Event).where(Event.id == delivery.event_id))
    if event is None:
        raise EventPruned(
            f"The event {delivery.event_id} of this delivery is older than the event retention and was "
            "deleted: it cannot be sent again. GET /api/v1/events lists the events still kept."
        )
    data = dict(event.data)
    if endpoint.payload == "thin":
        data = {"id": event.object_id, "object": data.get("object", event.object_type)}
    return {
        "type": event.type,
        "timestamp": event.created_at.isoformat().replace("+00:00", "Z"),
        "data": data,
        "sequence": event.sequence,
    }


def prepare(session: Session, kms: KMS, *, delivery_id: str, now: datetime) -> Prepared | None:
    """The signed request of a pending delivery, or None when there is nothing to send (done already,
    or its endpoint was disabled or deleted meanwhile: then it is canceled)."""
    delivery = session.scalar(select(WebhookDelivery).where(WebhookDelivery.id == delivery_id))
    if delivery is None or delivery.status is not DeliveryStatus.PENDING:
        return None
    if delivery.next_attempt_at is not None and delivery.next_attempt_at > now + timedelta(seconds=1):
        return None  # an older job of a delivery rescheduled since (resent, deferred): not due yet
    endpoint = session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.id == delivery.endpoint_id))
    if endpoint is None or not endpoint.enabled or endpoint.deleted_at is not None:
        delivery.status = DeliveryStatus.CANCELED
        delivery.next_attempt_at = None
        delivery.updated_at = now
        return None
    try:
        body = signing.body_bytes(payload_of(session, endpoint, delivery))
    except EventPruned:
        # Pruning keeps the events of pending deliveries; a resent one whose event went meanwhile stops.
        delivery.status = DeliveryStatus.CANCELED
        delivery.next_attempt_at = None
        delivery.updated_at = now
        return None
    msg_id = delivery.event_id or delivery.id
    # The signature's timestamp is when the request leaves, read from the wall clock: it is the receiver's
    # replay window (five minutes), not a domain time, and must hold even when tests move the domain clock.
    headers = signing.headers(
        signing_secrets(session, kms, endpoint, now=now),
        msg_id=msg_id,
        timestamp=system_clock.now(),
        body=body,
    )
    return Prepared(delivery.id, endpoint.id, endpoint.url, endpoint.livemode, body, headers)


def retry_delay(attempts: int, *, rng: random.Random | None = None) -> timedelta | None:
    """The wait after the `attempts`-th failed attempt, with jitter; None after the last one."""
    if attempts < 1 or attempts > len(RETRY_SCHEDULE):
        return None
    base = RETRY_SCHEDULE[attempts - 1]
    spread = (rng or random).uniform(-JITTER, JITTER)
    return timedelta(seconds=base * (1 + spread))


def _excerpt(body: bytes) -> str | None:
    if not body:
        return None
    text = body[:500].decode("utf-8", errors="replace")
    return "".join(ch if ch.isprintable() or ch in "\n\t" else "\ufffd" for ch in text)[:500]


def record_attempt(
    session: Session,
    ctx: Context,
    *,
    delivery_id: str,
    answer: Answer,
    address: str | None,
) -> WebhookDelivery:
    """Log one attempt and decide what comes next: done, a retry, the dead letter, or a disabled endpoint."""
    now = ctx.clock.now()
    delivery = session.scalar(
        select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update()
    )
    assert delivery is not None
    endpoint = get_by_id(
        session, WebhookEndpoint, delivery.endpoint_id, prefix="we", what="webhook endpoint", lock=True
    )
    succeeded = answer.status is not None and 200 <= answer.status < 300
    session.add(
        WebhookAttempt(
            tenant_id=delivery.tenant_id,
            id=new_id("wha"),
            delivery_id=delivery.id,
            endpoint_id=endpoint.id,
            attempted_at=now,
            status=answer.status,
            succeeded=succeeded,
            latency_ms=answer.latency_ms,
            response_excerpt=_excerpt(answer.body),
            error=answer.error,
            address=address,
        )
    )
    delivery.attempts += 1
    delivery.last_status = answer.status
    delivery.updated_at = now
    if delivery.status is not DeliveryStatus.PENDING:
        session.flush()  # a run twice: the first already decided
        return delivery
    if succeeded:
        delivery.status = DeliveryStatus.SUCCEEDED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        if endpoint.status is EndpointStatus.FAILING:
            endpoint.status = EndpointStatus.ACTIVE
            endpoint.failing_since = None
            endpoint.updated_at = now
            _audit(session, ctx, actions.WEBHOOK_ENDPOINT_RECOVERED, endpoint, {"delivery": delivery.id})
    elif answer.status == 410:
        delivery.status = DeliveryStatus.DEAD
        delivery.next_attempt_at = None
        endpoint.enabled = False
        endpoint.status = EndpointStatus.DISABLED
        endpoint.disabled_reason = "The endpoint answered 410 Gone."
        endpoint.updated_at = now
        _cancel_pending(session, endpoint, now)
        _audit(
            session,
            ctx,
            actions.WEBHOOK_ENDPOINT_DISABLED,
            endpoint,
            {"reason": "410 Gone", "delivery": delivery.id},
        )
    else:
        delay = retry_delay(delivery.attempts)
        if delay is not None:
            delivery.next_attempt_at = now + delay
            _queue(ctx, delivery, delay)
        else:
            delivery.status = DeliveryStatus.DEAD
            delivery.next_attempt_at = None
            _dead_letter(session, ctx, endpoint, delivery, now)
    session.flush()
    return delivery


def _dead_letter(
    session: Session, ctx: Context, endpoint: WebhookEndpoint, delivery: WebhookDelivery, now: datetime
) -> None:
    _audit(
        session,
        ctx,
        actions.WEBHOOK_DELIVERY_DEAD,
        endpoint,
        {"delivery": delivery.id, "event": delivery.event_id, "attempts": delivery.attempts},
        outcome=Outcome.FAILURE,
    )
    if endpoint.status is EndpointStatus.FAILING:
        return  # one alert per outage, not one per dead delivery
    endpoint.status = EndpointStatus.FAILING
    endpoint.failing_since = now
    endpoint.updated_at = now
    session.flush()
    events.emit(
        session, ctx, EventType.WEBHOOK_ENDPOINT_FAILING, subject=endpoint, data=serialize_endpoint(endpoint)
    )


def _cancel_pending(session: Session, endpoint: WebhookEndpoint, now: datetime) -> None:
    session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint.id,
            WebhookDelivery.status == DeliveryStatus.PENDING,
        )
        .values(status=DeliveryStatus.CANCELED, next_attempt_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )


def defer(session: Session, ctx: Context, *, delivery_id: str) -> None:
    """The endpoint's concurrency slots are all taken: ask again shortly (no attempt is counted)."""
    delivery = session.scalar(select(WebhookDelivery).where(WebhookDelivery.id == delivery_id))
    if delivery is None or delivery.status is not DeliveryStatus.PENDING:
        return
    delivery.next_attempt_at = ctx.clock.now() + BUSY_RETRY
    _queue(ctx, delivery, BUSY_RETRY)


# --- resend, replay, test -----------------------------------------------------------------------------


def resend(session: Session, ctx: Context, *, delivery_id: str) -> WebhookDelivery:
    """Deliver again now (same `webhook-id` and body), whatever came of it before."""
    delivery = get_by_id(
        session, WebhookDelivery, delivery_id, prefix="whd", what="webhook delivery", lock=True
    )
    endpoint = get_endpoint(session, endpoint_id=delivery.endpoint_id)
    if not endpoint.enabled:
        raise EndpointDisabled("The endpoint is disabled: enable it before resending to it.")
    payload_of(session, endpoint, delivery)  # EventPruned (409) for an event past retention
    _restart(ctx, delivery)
    _audit(session, ctx, actions.WEBHOOK_DELIVERY_RESENT, endpoint, {"delivery": delivery.id})
    return delivery


def _restart(ctx: Context, delivery: WebhookDelivery) -> None:
    # A fresh schedule: the attempts counted so far stay in the log. A delivery still pending gets one more
    # job; whichever runs first sends, and a later one finds its retry not yet due or the delivery done.
    now = ctx.clock.now()
    delivery.status = DeliveryStatus.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = now
    delivery.updated_at = now
    _queue(ctx, delivery)


def replay(session: Session, ctx: Context, *, endpoint_id: str, since: datetime) -> list[WebhookDelivery]:
    """Deliver again every dead (or canceled) delivery of the endpoint made since `since`."""
    endpoint = get_endpoint(session, endpoint_id=endpoint_id, lock=True)
    if not endpoint.enabled:
        raise EndpointDisabled("The endpoint is disabled: enable it before replaying to it.")
    failed = session.scalars(
        select(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint.id,
            WebhookDelivery.status.in_((DeliveryStatus.DEAD, DeliveryStatus.CANCELED)),
            WebhookDelivery.created_at >= since,
        )
        .order_by(WebhookDelivery.id)
        .limit(10_000)
    ).all()
    kept = set(
        session.scalars(
            select(Event.id).where(Event.id.in_([d.event_id for d in failed if d.event_id is not None]))
        )
    )
    # A delivery whose event is past retention (pruned) cannot be sent again: it is left as it is.
    failed = [d for d in failed if d.event_id is None or d.event_id in kept]
    for delivery in failed:
        _restart(ctx, delivery)
    session.flush()
    _audit(
        session,
        ctx,
        actions.WEBHOOK_ENDPOINT_REPLAYED,
        endpoint,
        {"since": since.isoformat(), "deliveries": len(failed)},
    )
    return list(failed)


def send_test_event(session: Session, ctx: Context, *, endpoint_id: str) -> WebhookDelivery:
    """A `webhook_endpoint.test` delivery of the endpoint itself, signed like any other."""
    endpoint = get_endpoint(session, endpoint_id=endpoint_id)
    if not endpoint.enabled:
        raise EndpointDisabled("The endpoint is disabled: enable it before sending a test event.")
    delivery = _new_delivery(
        session, ctx, endpoint, event_id=None, event_type=TEST_EVENT_TYPE, now=ctx.clock.now()
    )
    _audit(session, ctx, actions.WEBHOOK_TEST_SENT, endpoint, {"delivery": delivery.id})
    return delivery


def requeue_lost(session: Session, ctx: Context) -> int:
    """Queue again the pending deliveries whose job was lost (a worker killed mid-attempt, Redis flushed)."""
    now = ctx.clock.now()
    lost = session.scalars(
        select(WebhookDelivery).where(
            WebhookDelivery.status == DeliveryStatus.PENDING,
            WebhookDelivery.next_attempt_at < now - LOST_AFTER,
        )
    ).all()
    for delivery in lost:
        delivery.next_attempt_at = now
        _queue(ctx, delivery)
    return len(lost)


def event_payload_json(session: Session, endpoint: WebhookEndpoint, delivery: WebhookDelivery) -> str:
    """The body as the portal's delivery log shows it (pretty-printed)."""
    return json.dumps(payload_of(session, endpoint, delivery), indent=2, sort_keys=True)
