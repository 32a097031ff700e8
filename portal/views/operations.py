"""The operations status page: queue depths, failed jobs, worker liveness, outbox backlog.

Platform-wide figures, so only for the owners and admins (operations:read) of an operator tenant
(`KASSA_OPERATOR_TENANTS`); any other tenant gets 404, as if the page did not exist. `kassa status` shows
the same snapshot on the command line."""

from __future__ import annotations

from flask_login import current_user

from core.errors import NotFound
from core.jobs import status
from core.web.htmx import render_page_or_block
from core.web.request import runtime, uow
from tenants.lookup import tenant_by_id


def visible() -> bool:
    """Whether the header links the operations page: operations:read in an operator tenant."""
    if not current_user.can("operations:read"):
        return False
    tenant = tenant_by_id(uow().session, current_user.tenant_id)
    return tenant is not None and status.is_operator(
        tenant_id=tenant.id, slug=tenant.slug, operator_tenants=runtime().settings.operator_tenants
    )


def operations_status() -> str:
    rt = runtime()
    tenant = tenant_by_id(uow().session, current_user.tenant_id)
    if not status.is_operator(
        tenant_id=tenant.id, slug=tenant.slug, operator_tenants=rt.settings.operator_tenants
    ):
        raise NotFound("No such page.")
    return render_page_or_block(
        "portal/operations.html", block="status", shot=status.snapshot(rt.db, rt.redis, clock=rt.clock)
    )
