"""TEMPORARY stand-in for the call edge's Context (issue 9), replaced by main's at merge."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from core.audit.models import ActorType as ActorType
from core.audit.service import Actor as Actor
from core.clock import Clock
from core.jobs.sink import JobSink as JobSink
from core.kms import KMS
from core.redis import RedisClient


@dataclass(frozen=True)
class Context:
    actor: Actor
    clock: Clock
    kms: KMS
    jobs: JobSink
    redis: RedisClient
    base_url: str

    def acting_as(self, actor: Actor) -> Context:
        return dataclasses.replace(self, actor=actor)
