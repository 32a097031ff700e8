"""SSRF protection: private, loopback, metadata and disguised addresses are refused at creation and again at
delivery (DNS rebinding), and a canary listener on loopback receives nothing.

No test connects outside 127.0.0.0/8 and ::1: private and metadata addresses are refused at creation, before
any connection, and names resolve through a stub resolver."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from core.jobs.runtime import Runtime
from core.webhooks import addresses, service
from core.webhooks.addresses import UnsafeWebhookURL
from core.webhooks.models import DeliveryStatus
from tests.fixtures import Factories
from tests.webhooks_helpers import attempts, create_endpoint, ctx, deliveries, drain, receiver

CLOSED = service.Policy(allow_private=False)


@dataclass
class Canary:
    port: int = 0
    connections: list[object] = field(default_factory=list)


@contextmanager
def canary() -> Iterator[Canary]:
    """A TCP listener on loopback that counts every connection."""
    state = Canary()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    state.port = listener.getsockname()[1]
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, peer = listener.accept()
            except OSError:
                continue
            state.connections.append(peer)
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        stop.set()
        thread.join(2)
        listener.close()


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "10.0.0.1",
        "169.254.169.254",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "2130706433",
        "0x7f000001",
        "127.1",
        "0177.0.0.1",
        "192.168.1.10",
        "172.16.0.1",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104  (a URL host to refuse, not a bind address)
        "[fe80::1]",
        "[fd00::1]",
        "localhost",
        "metadata.google.internal",
    ],
)
def test_private_and_disguised_addresses_are_refused_at_creation(
    rt: Runtime, make: Factories, host: str
) -> None:
    tenant = make.tenants()
    with canary() as listener, pytest.raises(UnsafeWebhookURL):
        create_endpoint(rt, tenant, f"http://{host}:{listener.port}/hooks", policy=CLOSED)
    assert listener.connections == []


def test_a_public_name_that_resolves_to_a_private_address_is_refused(
    rt: Runtime, make: Factories, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = make.tenants()
    monkeypatch.setattr(addresses, "system_resolver", lambda host, port: ["93.184.216.34", "10.1.2.3"])
    with pytest.raises(UnsafeWebhookURL, match="private"):
        create_endpoint(rt, tenant, "https://hooks.shop.example/k", policy=CLOSED)


def test_live_endpoints_need_https(rt: Runtime, make: Factories, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = make.tenants()
    monkeypatch.setattr(addresses, "system_resolver", lambda host, port: ["93.184.216.34"])
    with pytest.raises(UnsafeWebhookURL, match="https"):
        create_endpoint(rt, tenant, "http://hooks.shop.example/k", livemode=True, policy=CLOSED)
    made, _ = create_endpoint(rt, tenant, "https://hooks.shop.example/k", livemode=True, policy=CLOSED)
    assert made.url == "https://hooks.shop.example/k"
    for bad in ("ftp://hooks.shop.example/", "https://user:pw@hooks.shop.example/", "https:///x", "no url"):
        with pytest.raises(UnsafeWebhookURL):
            create_endpoint(rt, tenant, bad, policy=CLOSED)


def test_a_name_rebound_to_loopback_after_creation_is_refused_at_delivery(
    rt: Runtime, make: Factories, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: public at the creation check, loopback at delivery while the private-address block
    is on (the suite's settings): refused before any connection."""
    tenant = make.tenants()
    answers = {"now": "93.184.216.34"}
    monkeypatch.setattr(addresses, "system_resolver", lambda host, port: [answers["now"]])
    with canary() as listener:
        made, _ = create_endpoint(
            rt, tenant, f"http://rebind.shop.example:{listener.port}/hooks", policy=CLOSED
        )
        answers["now"] = "127.0.0.1"
        with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
            service.send_test_event(uow.session, ctx(rt, uow), endpoint_id=made.id)
        drain(rt)
    assert listener.connections == []
    [attempt] = attempts(rt, tenant)
    assert not attempt.succeeded and attempt.status is None
    assert attempt.error and attempt.error.startswith("refused")
    [delivery] = deliveries(rt, tenant)
    assert delivery.status is DeliveryStatus.PENDING and delivery.next_attempt_at is not None  # retried


def test_the_connection_goes_to_the_checked_address(
    rt: Runtime, make: Factories, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With private addresses allowed (development), a name still resolves once, and the request goes to
    that address with the name as Host."""
    monkeypatch.setattr(rt, "settings", rt.settings.with_changes(webhooks_allow_private=True))
    tenant = make.tenants()
    looked_up: list[str] = []

    def stub(host: str, port: int) -> list[str]:
        looked_up.append(host)
        return ["127.0.0.1"]

    monkeypatch.setattr(addresses, "system_resolver", stub)
    with receiver() as hook:
        made, _ = create_endpoint(rt, tenant, f"http://pinned.shop.example:{hook.port}/in")
        with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
            service.send_test_event(uow.session, ctx(rt, uow), endpoint_id=made.id)
        drain(rt)
    [got] = hook.received
    assert got.headers["host"] == f"pinned.shop.example:{hook.port}" and got.path == "/in"
    assert looked_up == ["pinned.shop.example", "pinned.shop.example"]  # creation, delivery


def test_redirects_are_not_followed(rt: Runtime, make: Factories, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rt, "settings", rt.settings.with_changes(webhooks_allow_private=True))
    tenant = make.tenants()
    with receiver(status=302) as hook:
        made, _ = create_endpoint(rt, tenant, hook.url)
        with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
            service.send_test_event(uow.session, ctx(rt, uow), endpoint_id=made.id)
        drain(rt)
    assert len(hook.received) == 1
    [attempt] = attempts(rt, tenant)
    assert attempt.status == 302 and not attempt.succeeded


def test_public_addresses_pass() -> None:
    for url, address in (
        ("https://93.184.216.34/x", "93.184.216.34"),
        ("https://[2606:2800:220:1:248:1893:25c8:1946]/x", "2606:2800:220:1:248:1893:25c8:1946"),
    ):
        assert addresses.check(url, livemode=True, allow_private=False).address == address
