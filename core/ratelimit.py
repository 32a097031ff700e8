"""Fixed-window counters in Redis, for sign-in and (later) payment attempts."""

from __future__ import annotations

import contextlib
import hashlib
import logging

import redis

from core.redis import RedisClient

log = logging.getLogger(__name__)


class LimiterUnavailable(Exception):
    """A fail-closed limiter could not reach Redis: the caller refuses the attempt for now."""


class RateLimiter:
    """`fail_closed=True` (sign-in): when Redis is down, `hit` and `exceeded` raise `LimiterUnavailable`
    instead of letting attempts through uncounted. Otherwise (payments) an outage counts nothing."""

    def __init__(
        self,
        connection: RedisClient,
        *,
        name: str,
        limit: int,
        window_seconds: int,
        fail_closed: bool = False,
    ) -> None:
        self.connection = connection
        self.name = name
        self.limit = limit
        self.window = window_seconds
        self.fail_closed = fail_closed

    def _key(self, subject: str) -> str:
        # Hashed: the subject may be an email or an IP, which need not sit in Redis in the clear.
        return f"kassa:rl:{self.name}:{hashlib.sha256(subject.encode()).hexdigest()[:32]}"

    def hit(self, subject: str) -> int:
        """Count one attempt; return the count in the current window (0 if Redis is unavailable and the
        limiter fails open)."""
        key = self._key(subject)
        try:
            with self.connection.pipeline() as pipe:
                pipe.incr(key)
                pipe.expire(key, self.window, nx=True)
                count, _ = pipe.execute()
            return int(count)
        except redis.RedisError as exc:
            if self.fail_closed:
                log.warning("rate limiter %s: Redis unavailable, refusing", self.name)
                raise LimiterUnavailable(self.name) from exc
            log.warning("rate limiter %s: Redis unavailable, not counting", self.name)
            return 0

    def exceeded(self, subject: str) -> bool:
        try:
            raw = self.connection.get(self._key(subject))
        except redis.RedisError as exc:
            if self.fail_closed:
                log.warning("rate limiter %s: Redis unavailable, refusing", self.name)
                raise LimiterUnavailable(self.name) from exc
            return False
        return raw is not None and int(raw) >= self.limit

    def reset(self, subject: str) -> None:
        with contextlib.suppress(redis.RedisError):  # the window expires by itself
            self.connection.delete(self._key(subject))
