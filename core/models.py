"""Every core model module, imported so `Base.metadata` is complete (migrations, tests, tenant_tables())."""

from core import idempotency
from core.audit import models as audit_models
from core.events import models as event_models
from core.jobs import outbox as outbox_models
from core.keys import models as key_models
from core.ledger import models as ledger_models
from core.links import models as link_models
from core.locality import models as locality_models
from core.payments import models as payment_models
from core.receipts import models as receipt_models
from core.risk import models as risk_models  # noqa: F401  (registers the risk tables)
from core.vault import models as vault_models

__all__ = [
    "audit_models",
    "event_models",
    "idempotency",
    "key_models",
    "ledger_models",
    "link_models",
    "locality_models",
    "outbox_models",
    "payment_models",
    "receipt_models",
    "vault_models",
]
