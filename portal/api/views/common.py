"""What the API handlers of several resources share."""

from __future__ import annotations

from typing import Protocol, TypeVar

from core.errors import NotFound
from portal.api.auth import caller


class _HasMode(Protocol):
    @property
    def livemode(self) -> bool: ...


T = TypeVar("T", bound=_HasMode)


def same_mode(obj: T, kind: str, object_id: str) -> T:
    # Test keys see test objects and live keys live ones: the two never mix.
    if obj.livemode != caller().livemode:
        raise NotFound(f"No such {kind}: {object_id!r}.", param="id")
    return obj
