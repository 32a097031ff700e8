"""The singleton lock of `kassa cron`: one process runs the schedule, any others wait to take over.

A Redis key with an expiry (`ttl`) names the holder; the holder renews it on every tick, so a holder
that dies (SIGKILL, a lost machine) gives the lock up when the key expires and a waiting cron takes it
over within `ttl`. A holder that stops cleanly deletes the key at once.

Each acquisition takes a new fencing number from a counter (`kassa:cron:fence`) that only grows, and the
lock's value carries it (`host:pid:fence`). Every scheduled run is then claimed with one script that
(a) checks that the lock still holds this holder's value, extending it, and (b) marks the entry's current
period as run (`SET NX`). A holder that stalled past its expiry (a long pause, a frozen VM) finds on
waking that the value is no longer its own and stops, instead of running what its successor runs now;
and a period already claimed is never run again, by anyone, so an entry runs at most once per period
however the lock changes hands. (A holder that dies between its claim and its run skips that period:
the housekeeping jobs are sweeps, each catching up at its next period.)
"""

from __future__ import annotations

import os
import socket
from typing import Final

from core.jobs.queues import RedisClient

LOCK_KEY: Final = "kassa:cron:lock"
FENCE_KEY: Final = "kassa:cron:fence"
#: `kassa:cron:ran:<entry>:<period>`: the entry's run of that period was claimed (value: the holder).
RAN_PREFIX: Final = "kassa:cron:ran:"
#: Without renewal the lock expires after this many seconds: how long a dead holder blocks a takeover.
DEFAULT_TTL: Final = 10.0

# Take the lock only where nobody holds it, with the next fencing number in its value.
_ACQUIRE: Final = """
if redis.call('exists', KEYS[1]) == 1 then return 0 end
local fence = redis.call('incr', KEYS[2])
redis.call('set', KEYS[1], ARGV[1] .. ':' .. fence, 'PX', ARGV[2])
return fence
"""
# Extend the lock only while it still holds our value.
_RENEW: Final = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('pexpire', KEYS[1], ARGV[2])
return 1
"""
# Delete the lock only while it still holds our value (never a successor's).
_RELEASE: Final = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
# A fenced claim of one entry's period: -1 the lock is not ours (any more), 0 the period ran already,
# 1 ours to run. Extends the lock, so a long pass over the schedule keeps it.
_CLAIM: Final = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then return -1 end
redis.call('pexpire', KEYS[1], ARGV[2])
if redis.call('set', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[3]) then return 1 end
return 0
"""


class CronLock:
    """One `kassa cron`'s hold on the schedule (see the module's docstring)."""

    def __init__(self, redis: RedisClient, *, ttl: float = DEFAULT_TTL, owner: str | None = None) -> None:
        if ttl <= 0:
            raise ValueError("the cron lock's ttl must be positive")
        self.redis = redis
        self.ttl_ms = max(1, int(ttl * 1000))
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        #: The lock's value while held (`owner:fence`), else None.
        self.token: str | None = None
        #: The fencing number of the current hold; 0 when not held.
        self.fence = 0

    @property
    def held(self) -> bool:
        return self.token is not None

    def acquire_or_renew(self) -> bool:
        """Renew the hold, or take the lock if it is free. True while this process holds it."""
        if self.token is not None:
            if self.redis.eval(_RENEW, 2, LOCK_KEY, FENCE_KEY, self.token, self.ttl_ms):
                return True
            self._lost()
        fence = int(self.redis.eval(_ACQUIRE, 2, LOCK_KEY, FENCE_KEY, self.owner, self.ttl_ms))
        if fence:
            self.fence = fence
            self.token = f"{self.owner}:{fence}"
        return self.token is not None

    def claim(self, entry: str, period: int, *, period_seconds: float) -> bool:
        """Claim `entry`'s run for `period` (a count of `period_seconds` since the epoch). False when the
        period ran already or the lock is no longer ours (then `held` turns False too)."""
        if self.token is None:
            return False
        # Kept two periods: long enough that no cron still in that period can claim it again.
        keep_ms = max(self.ttl_ms, int(period_seconds * 2000))
        result = int(
            self.redis.eval(_CLAIM, 2, LOCK_KEY, ran_key(entry, period), self.token, self.ttl_ms, keep_ms)
        )
        if result < 0:
            self._lost()
        return result == 1

    def release(self) -> None:
        """Give the lock up at once (a clean stop), so a waiting cron takes over on its next tick."""
        if self.token is not None:
            self.redis.eval(_RELEASE, 1, LOCK_KEY, self.token)
            self._lost()

    def _lost(self) -> None:
        self.token = None
        self.fence = 0


def ran_key(entry: str, period: int) -> str:
    return f"{RAN_PREFIX}{entry}:{period}"


def holder(redis: RedisClient) -> str | None:
    """The current holder's `host:pid:fence`, or None (an operator: `redis-cli GET kassa:cron:lock`)."""
    value = redis.get(LOCK_KEY)
    return value.decode() if isinstance(value, bytes) else value
