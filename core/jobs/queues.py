"""RQ queues (JSON-serialized: a job's arguments are ids, never objects). The Redis client type and its
connection are core/redis.py, re-exported here."""

from __future__ import annotations

from typing import Final

from rq import Queue
from rq.serializers import JSONSerializer

from core.redis import RedisClient as RedisClient
from core.redis import connect_redis as connect_redis

PAYMENTS: Final = "payments"
WEBHOOKS: Final = "webhooks"
PAYOUTS: Final = "payouts"
DEFAULT: Final = "default"
QUEUE_NAMES: Final = (PAYMENTS, WEBHOOKS, PAYOUTS, DEFAULT)


def get_queue(name: str, connection: RedisClient) -> Queue:
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}; queues are {', '.join(QUEUE_NAMES)}")
    return Queue(name, connection=connection, serializer=JSONSerializer)
