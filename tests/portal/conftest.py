"""Fixtures of the portal tests."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.clock import FrozenClock
from core.jobs.runtime import Runtime


@pytest.fixture
def clock(clean: Runtime, monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    """The app's clock, frozen at now: a test moves time with `clock.advance(minutes=16)`."""
    frozen = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    monkeypatch.setattr(clean, "clock", frozen)
    return frozen
