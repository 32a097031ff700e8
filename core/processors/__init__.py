"""Processors: the acquirer interface (`base`), the test-mode sandbox acquirer (`sandbox`)
and the factory choosing one per mode (`factory`)."""

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
)
from core.processors.factory import get_processor
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
