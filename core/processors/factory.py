"""The processor factory: which `Processor` serves a key's mode. It sits above both the interface
(`base`) and the sandbox, so the interface module imports no implementation."""

from __future__ import annotations

from core.clock import Clock, system_clock
from core.processors.base import LiveModeUnavailable, Processor
from core.processors.sandbox import SandboxConfig, SandboxProcessor
from core.redis import RedisClient


def get_processor(
    *,
    livemode: bool,
    redis: RedisClient,
    config: SandboxConfig | None = None,
    clock: Clock = system_clock,
) -> Processor:
    """The processor for a key's mode: test keys get the sandbox; live keys have no processor yet."""
    if livemode:
        raise LiveModeUnavailable()
    return SandboxProcessor(redis, config=config or SandboxConfig(), clock=clock)
