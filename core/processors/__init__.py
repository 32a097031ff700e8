"""Processors: the acquirer interface (`base`) and the test-mode sandbox acquirer (`sandbox`)."""

from core.processors.base import (
    AuthorizationRequest,
    CardLike,
    IdempotencyKeyReused,
    LiveModeUnavailable,
    Processor,
    ProcessorResult,
    ProcessorStatus,
    ProcessorTimeout,
    ProcessorUnavailable,
    get_processor,
)
from core.processors.sandbox import SandboxConfig, SandboxProcessor, TestCards

__all__ = [
    "AuthorizationRequest",
    "CardLike",
    "IdempotencyKeyReused",
    "LiveModeUnavailable",
    "Processor",
    "ProcessorResult",
    "ProcessorStatus",
    "ProcessorTimeout",
    "ProcessorUnavailable",
    "SandboxConfig",
    "SandboxProcessor",
    "TestCards",
    "get_processor",
]
