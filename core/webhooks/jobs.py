"""The webhook jobs: the events subscriber (fan-out), one delivery attempt, and the lost-job sweeper.

Fair queueing: an attempt first takes one of its endpoint's concurrency slots in Redis
(`webhook_endpoint_concurrency`, across every worker). An endpoint whose slots are all taken (a slow or
dead receiver holding them for up to the timeout) does not hold a worker: its delivery is put back for a
moment (`service.BUSY_RETRY`), and the worker takes the next job, another endpoint's. So one tenant's
dead endpoint occupies at most that many workers, and every other endpoint's deliveries go past it.
"""

from __future__ import annotations

import logging
import secrets
import time
from datetime import datetime, timedelta
from typing import Final

from core import metrics, telemetry
from core.audit import actions
from core.audit import service as audit
from core.context import Actor, Context
from core.db import UnitOfWork
from core.jobs import runtime
from core.jobs.queues import DEFAULT, WEBHOOKS, RedisClient
from core.jobs.registry import Cron, job
from core.webhooks import addresses, http, retention, service

log = logging.getLogger(__name__)
ACTOR: Final = Actor.system("webhooks")
#: Seconds a slot is held at most past the timeout (a worker killed mid-call frees its slot by then).
SLOT_GRACE: Final = 10.0


def _ctx(rt: runtime.Runtime, uow: UnitOfWork) -> Context:
    return rt.context(uow, ACTOR)


def policy(rt: runtime.Runtime) -> service.Policy:
    return service.Policy(allow_private=rt.settings.webhooks_allow_private)


@job(queue=WEBHOOKS, retry_intervals=(5, 30, 300))
def on_event(tenant_id: str, event_id: str) -> int:
    """The events subscriber: a delivery for each endpoint that wants this event. Safe to run twice."""
    rt = runtime.current()
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        return len(service.fan_out(uow.session, _ctx(rt, uow), event_id=event_id))


@job(queue=WEBHOOKS, retry_intervals=(30, 300))
def catch_up(tenant_id: str, endpoint_id: str, since: str) -> int:
    """An endpoint's catch-up after it started hearing events (service.wants_event). Safe to run twice."""
    rt = runtime.current()
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        made = service.catch_up(
            uow.session, _ctx(rt, uow), endpoint_id=endpoint_id, since=datetime.fromisoformat(since)
        )
        return len(made)


def _slot_key(tenant_id: str, endpoint_id: str) -> str:
    return f"kassa:webhooks:slots:{tenant_id}:{endpoint_id}"


def take_slot(redis: RedisClient, key: str, *, cap: int, hold: float) -> str | None:
    """A slot of the endpoint (a token to give back), or None when `cap` are in use. A slot not given back
    expires after `hold` seconds, so a crashed worker does not keep it."""
    token = secrets.token_hex(8)
    now = time.time()
    with redis.pipeline() as pipe:  # MULTI: expire the stale, claim, count, in one step
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zadd(key, {token: now + hold})
        pipe.zcard(key)
        pipe.expire(key, int(hold) + 1)
        _, _, count, _ = pipe.execute()
    if int(count) > cap:
        redis.zrem(key, token)
        return None
    return token


def give_back(redis: RedisClient, key: str, token: str) -> None:
    redis.zrem(key, token)


@job(queue=WEBHOOKS, retry_intervals=(), timeout=60)
def deliver(tenant_id: str, delivery_id: str) -> str:
    """One attempt of a delivery. Safe to run twice: a delivery no longer pending (or not yet due) is left
    alone. No transaction is open during the HTTP call. Counted by outcome (`kassa_webhook_deliveries`)."""
    outcome = _deliver(tenant_id, delivery_id)
    metrics.WEBHOOK_DELIVERIES.labels(outcome).inc()
    return outcome


def _deliver(tenant_id: str, delivery_id: str) -> str:
    rt = runtime.current()
    settings = rt.settings
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        prepared = service.prepare(uow.session, rt.kms, delivery_id=delivery_id, now=rt.clock.now())
    if prepared is None:
        return "skipped"
    # Checked again now, and the answer pinned: a name that resolved to a public address at creation and
    # resolves to a private one now (DNS rebinding) is refused here, before any connection.
    try:
        target = policy(rt).check(prepared.url, livemode=prepared.livemode)
    except addresses.UnsafeWebhookURL as exc:
        answer = http.Answer(None, b"", f"refused: {exc.message}"[:200], 0)
        with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
            service.record_attempt(
                uow.session, _ctx(rt, uow), delivery_id=delivery_id, answer=answer, address=None
            )
        return "refused"
    key = _slot_key(tenant_id, prepared.endpoint_id)
    token = take_slot(
        rt.redis,
        key,
        cap=settings.webhook_endpoint_concurrency,
        hold=settings.webhook_timeout_seconds + SLOT_GRACE,
    )
    if token is None:
        with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
            service.defer(uow.session, _ctx(rt, uow), delivery_id=delivery_id)
        return "busy"
    try:
        with telemetry.span(
            "webhook.deliver",
            kind=telemetry.SpanKind.CLIENT,
            attributes={"kassa.delivery_id": delivery_id, "server.address": target.host},
        ) as span:
            answer = http.post(
                target, body=prepared.body, headers=prepared.headers, timeout=settings.webhook_timeout_seconds
            )
            if answer.status is not None:
                span.set_attribute("http.response.status_code", answer.status)
    finally:
        give_back(rt.redis, key, token)
    with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
        delivery = service.record_attempt(
            uow.session, _ctx(rt, uow), delivery_id=delivery_id, answer=answer, address=target.address
        )
        return str(delivery.status)


@job(queue=DEFAULT, retry_intervals=())
def sweep_deliveries() -> int:
    """Queue again every tenant's pending deliveries whose job was lost (`kassa cron`, every minute)."""
    rt = runtime.current()
    requeued = 0
    for tenant_id in rt.db.tenant_ids():
        with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
            requeued += service.requeue_lost(uow.session, _ctx(rt, uow))
    if requeued:
        log.warning("re-queued %d lost webhook deliveries", requeued)
    return requeued


#: Batches one run of `prune_events` deletes at most (the next hour's run goes on).
PRUNE_BATCHES: Final = 100


@job(queue=DEFAULT, retry_intervals=(300,), timeout=3600)
def prune_events(tenant_id: str) -> int:
    """Delete the tenant's events older than `KASSA_EVENT_RETENTION_DAYS` (90), a batch per transaction,
    keeping those a delivery still retries (`kassa cron`, hourly). Safe to run twice, and twice at once."""
    rt = runtime.current()
    before = rt.clock.now() - timedelta(days=rt.settings.event_retention_days)
    total = 0
    for _ in range(PRUNE_BATCHES):
        with rt.db.unit_of_work(tenant_id=tenant_id) as uow:
            pruned = retention.prune_batch(
                uow.session, tenant_id=tenant_id, before=before, limit=retention.BATCH
            )
            if pruned:  # audited with the batch, in its transaction
                audit.record(
                    uow.session,
                    _ctx(rt, uow),
                    actions.EVENTS_PRUNED,
                    subject=audit.Ref("tenant", tenant_id, tenant_id),
                    details={
                        "events": pruned,
                        "before": before.isoformat(),
                        "retention_days": rt.settings.event_retention_days,
                    },
                )
        total += pruned
        if pruned < retention.BATCH:
            break
    if total:
        log.info("events pruned", extra={"tenant_id": tenant_id, "count": total})
    return total


#: What `kassa cron` runs of these (core/jobs/catalogue.py).
CRON: tuple[Cron, ...] = (
    Cron("re-queue lost webhook deliveries", 60.0, sweep_deliveries),
    # Here, not with the events: the webhook deliveries still retrying are what holds an old event.
    Cron("prune events past retention", 3600.0, prune_events, per_tenant=True),
)
