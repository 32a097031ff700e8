"""What a portal view hands core for the signed-in user: the actor and the collaborators of a payment step.

One place, so the views' calls into core read the same everywhere (and change in one place when core's
operations change how they take them).
"""

from __future__ import annotations

from flask import g
from flask_login import current_user

from core.audit.models import ActorType
from core.audit.service import Actor
from core.payments import service
from core.web.request import client_ip, runtime, uow


def user_actor() -> Actor:
    return Actor(ActorType.USER, current_user.id, origin_ip=client_ip(), request_id=g.get("request_id"))


def payment_services() -> service.Services:
    rt = runtime()
    return service.Services(
        redis=rt.redis, kms=rt.kms, clock=rt.clock, jobs=rt.sink(uow()), base_url=rt.settings.base_url
    )
