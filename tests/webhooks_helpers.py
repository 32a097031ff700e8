"""Webhook tests' receiver (a real HTTP server on loopback) and the real worker driving deliveries."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from rq import SimpleWorker
from rq.serializers import JSONSerializer
from sqlalchemy import select

from core.context import Actor, Context
from core.jobs.queues import DEFAULT, WEBHOOKS
from core.jobs.runtime import Runtime
from core.webhooks import jobs as webhook_jobs
from core.webhooks import service
from core.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tests.factories import MadeTenant


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """Answers `status` (after `delay` seconds) to every POST and keeps what it got."""

    status: int = 200
    delay: float = 0.0
    answer: bytes = b'{"ok": true}'
    received: list[Received] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"


@contextmanager
def receiver(**options: Any) -> Iterator[Receiver]:
    state = Receiver(**options)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            state.received.append(
                Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic())
            )
            if state.delay:
                time.sleep(state.delay)
            try:
                self.send_response(state.status)
                self.send_header("Content-Length", str(len(state.answer)))
                self.end_headers()
                self.wfile.write(state.answer)
            except OSError:
                pass  # the client gave up (timeout)

        def do_GET(self) -> None:
            self.do_POST()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def ctx(rt: Runtime, uow: Any, actor: Actor | None = None) -> Context:
    return rt.context(uow, actor or Actor.system("test"))


def open_policy() -> service.Policy:
    return service.Policy(allow_private=True)


def create_endpoint(rt: Runtime, tenant: MadeTenant, url: str, **fields: Any) -> tuple[WebhookEndpoint, str]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        return service.create_endpoint(
            uow.session,
            ctx(rt, uow),
            tenant_id=tenant.id,
            livemode=fields.pop("livemode", False),
            url=url,
            policy=fields.pop("policy", open_policy()),
            **fields,
        )


def fan_out(rt: Runtime, tenant: MadeTenant, event_id: str) -> int:
    return webhook_jobs.on_event(tenant_id=tenant.id, event_id=event_id)


def drain(rt: Runtime, *, rounds: int = 5) -> None:
    """Relay the due outbox rows and run the real worker over `webhooks` and `default` until quiet."""
    for _ in range(rounds):
        moved = rt.relay()
        SimpleWorker(
            [rt.queue(WEBHOOKS), rt.queue(DEFAULT)], connection=rt.redis, serializer=JSONSerializer
        ).work(burst=True)
        if not moved:
            return


def deliveries(rt: Runtime, tenant: MadeTenant) -> list[WebhookDelivery]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        return list(uow.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def attempts(rt: Runtime, tenant: MadeTenant) -> list[WebhookAttempt]:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        return list(uow.session.scalars(select(WebhookAttempt).order_by(WebhookAttempt.id)))


def endpoint(rt: Runtime, tenant: MadeTenant, endpoint_id: str) -> WebhookEndpoint:
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        found = uow.session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id))
        assert found is not None
        return found
