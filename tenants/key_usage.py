"""When and from where each API key was last used: kept in Redis (one small write per API request, no
database write on the hot path), shown on the portal's API keys screen. Best effort: with Redis down the
request is served and the time is simply not updated."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from core.redis import RedisClient

log = logging.getLogger(__name__)

_HASH = "kassa:api_key_last_used"


@dataclass(frozen=True)
class LastUse:
    at: datetime
    ip: str | None


def record(redis: RedisClient, *, key_id: str, ip: str | None, now: datetime) -> None:
    try:
        redis.hset(_HASH, key_id, f"{now.timestamp():.0f}|{ip or ''}")
    except Exception:
        log.warning("could not record an API key's last use", exc_info=True)


def last_used(redis: RedisClient, key_ids: Sequence[str]) -> dict[str, LastUse]:
    if not key_ids:
        return {}
    try:
        values = redis.hmget(_HASH, list(key_ids))
    except Exception:
        log.warning("could not read API keys' last use", exc_info=True)
        return {}
    found: dict[str, LastUse] = {}
    for key_id, value in zip(key_ids, values, strict=True):
        if not value:
            continue
        text = value.decode() if isinstance(value, bytes) else str(value)
        stamp, _, ip = text.partition("|")
        try:
            found[key_id] = LastUse(at=datetime.fromtimestamp(int(stamp), UTC), ip=ip or None)
        except ValueError:
            continue
    return found
