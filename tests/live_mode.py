"""A live-mode checkout session, for pages that must look different in live mode (no TEST MODE badge).

There is no way to get a live key in the tests' tenants (live keys need a live processor), so the
session is made through the service as the API would for a live key.
"""

from __future__ import annotations

from typing import Any

from core.jobs.runtime import Runtime
from core.payments import sessions
from tenants import checkout_settings
from tests.factories import MadeTenant
from tests.payments_helpers import SHOPPER


def create_live_session(rt: Runtime, tenant: MadeTenant, **fields: Any) -> str:
    """A live-mode session of `tenant` (25.00 EUR unless `fields` say otherwise); returns its id."""
    with rt.db.unit_of_work(tenant_id=tenant.id) as uow:
        ctx = checkout_settings.session_terms(uow.session, tenant_id=tenant.id, livemode=True)
        cs = sessions.create(
            uow.session,
            rt.context(uow, SHOPPER),
            terms=ctx,
            data={"amount": 2500, "currency": "EUR", **fields},
        )
        return cs.id
