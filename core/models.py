"""Every core model module, imported so `Base.metadata` is complete (migrations, tests, tenant_tables())."""

from core.audit import models as audit_models
from core.jobs import outbox as outbox_models

__all__ = ["audit_models", "outbox_models"]
