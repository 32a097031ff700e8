"""The Redis client type and its connection (a bottom-layer module: rate limits, the vault's card cache,
the sandbox, receipts and the job queues all take a client; none of them needs the job machinery)."""

from __future__ import annotations

import threading
from typing import TypeAlias

import fakeredis
import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

RedisClient: TypeAlias = redis.Redis

_fake_server: fakeredis.FakeServer | None = None
_fake_lock = threading.Lock()


def connect_redis(url: str) -> RedisClient:
    """A Redis client for `url`; `fakeredis://` gives the in-process stand-in (one per process)."""
    global _fake_server
    if url.startswith("fakeredis"):
        with _fake_lock:
            if _fake_server is None:
                _fake_server = fakeredis.FakeServer()
        return fakeredis.FakeRedis(server=_fake_server)
    # Short timeouts: a Redis outage should make the outbox relay give up quickly, not hang a request.
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=30,
        # Two quick retries, not redis-py's default ten with back-off (seconds per call while Redis is down).
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 2),
    )
