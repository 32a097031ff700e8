"""What the API handlers of several resources share."""

from __future__ import annotations

from typing import Protocol, TypeVar

from core.errors import NotFound
from core.payments import service
from core.web.request import runtime, uow
from portal.api.auth import caller


class _HasMode(Protocol):
    @property
    def livemode(self) -> bool: ...


T = TypeVar("T", bound=_HasMode)


def services() -> service.Services:
    rt = runtime()
    return service.Services(
        redis=rt.redis, kms=rt.kms, clock=rt.clock, jobs=rt.sink(uow()), base_url=rt.settings.base_url
    )


def same_mode(obj: T, kind: str, object_id: str) -> T:
    # Test keys see test objects and live keys live ones: the two never mix.
    if obj.livemode != caller().livemode:
        raise NotFound(f"No such {kind}: {object_id!r}.", param="id")
    return obj
