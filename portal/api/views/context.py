"""The operation context of an API request (actor, clock, KMS): the shape of core.context.Context."""

from __future__ import annotations

from dataclasses import dataclass

from core.audit.service import Actor
from core.clock import Clock
from core.kms import KMS
from core.web.request import runtime
from portal.api.auth import caller


@dataclass(frozen=True)
class RequestContext:
    actor: Actor
    clock: Clock
    kms: KMS


def api_ctx() -> RequestContext:
    rt = runtime()
    return RequestContext(actor=caller().actor(), clock=rt.clock, kms=rt.kms)
