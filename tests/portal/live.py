"""A real HTTP server around the test app, for tests that send truly concurrent requests (the Flask test
client is not meant to be shared across threads)."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask

from core.web.devserver import make_dev_server

T = TypeVar("T")


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


@contextmanager
def serve(app: Flask) -> Iterator[tuple[str, int]]:
    """Serve `app` on a free port of 127.0.0.1 (one thread per request) for the duration of the block."""
    server = make_dev_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="kassa-api-live-server", daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def send(
    address: tuple[str, int], method: str, path: str, *, key: str, body: Any = None, headers: Any = None
) -> Answer:
    connection = http.client.HTTPConnection(*address, timeout=60)
    try:
        sent = {"Authorization": f"Bearer {key}", **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        raw = response.read()
        return Answer(
            status=response.status,
            headers={k.lower(): v for k, v in response.getheaders()},
            body=json.loads(raw) if raw else None,
        )
    finally:
        connection.close()


def all_at_once(count: int, action: Callable[[int], T]) -> list[T]:
    """Run `action(i)` for i in range(count) on `count` threads released together by a barrier."""
    barrier = threading.Barrier(count)

    def run(index: int) -> T:
        barrier.wait(timeout=30)
        return action(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))
