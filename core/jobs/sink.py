"""How services ask for background work without knowing about the outbox or RQ."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol


class JobSink(Protocol):
    def enqueue(
        self,
        func: Callable[..., Any] | str,
        *,
        tenant_id: str | None,
        kwargs: dict[str, str | int | bool | None],
        delay: timedelta | None = None,
    ) -> None: ...
