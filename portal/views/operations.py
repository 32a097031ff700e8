"""The operations status page: queue depths, failed jobs (with retry), worker liveness, outbox lag, replica
lag and recent errors.

Platform-wide figures, so only for an operator tenant's members (`KASSA_OPERATOR_TENANTS`: Kassa's own
staff tenant, not a merchant's) whose role holds the operator permissions: operations:read to see the page,
operations:manage to retry failed jobs. Any other tenant gets 404, as if the pages did not exist, whatever
its members' roles. `kassa status` shows the same snapshot on the command line."""

from __future__ import annotations

from flask import redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from core.audit import actions
from core.audit import service as audit
from core.context import ActorType
from core.errors import InvalidInput, NotFound
from core.jobs import status
from core.web.htmx import render_page_or_block
from core.web.request import actor, context, runtime, uow
from portal.views.forms import RetryJobForm, RetryQueueForm
from tenants.lookup import tenant_by_id


def _operator_tenant_id() -> str | None:
    tenant = tenant_by_id(uow().session, current_user.tenant_id)
    if tenant is None or not status.is_operator(
        tenant_id=tenant.id, slug=tenant.slug, operator_tenants=runtime().settings.operator_tenants
    ):
        return None
    return tenant.id


def _require_operator() -> str:
    tenant_id = _operator_tenant_id()
    if tenant_id is None:
        raise NotFound("No such page.")
    return tenant_id


def visible() -> bool:
    """Whether the header links the operations page: operations:read in an operator tenant."""
    return current_user.can("operations:read") and _operator_tenant_id() is not None


def operations_status() -> str:
    _require_operator()
    rt = runtime()
    retried = request.args.get("retried", "")
    return render_page_or_block(
        "portal/operations.html",
        block="status",
        shot=status.snapshot(rt.db, rt.redis, clock=rt.clock, analytics=rt.analytics),
        may_retry=current_user.can("operations:manage"),
        retry_job_form=RetryJobForm(formdata=None),
        retry_queue_form=RetryQueueForm(formdata=None),
        retried=int(retried) if retried.isdigit() else None,
    )


def _back(retried: int) -> Response:
    return redirect(url_for("portal.operations", retried=retried), code=303)


def retry_job() -> Response:
    """Put one failed job back on its queue; audited in the operator tenant's trail."""
    tenant_id = _require_operator()
    form = RetryJobForm()
    if not form.validate_on_submit():
        raise InvalidInput("Name the queue and the failed job to retry.", param="job_id")
    queue, job_id = form.queue.data or "", form.job_id.data or ""
    try:
        job = status.retry_failed_job(runtime().redis, queue=queue, job_id=job_id)
    except NotFound:
        return _back(0)  # retried by someone else meanwhile, or expired: the page says so
    audit.record(
        uow().session,
        context(actor(ActorType.USER, current_user.id)),
        actions.OPERATIONS_JOB_RETRIED,
        subject=audit.Ref("job", job_id, tenant_id),
        details={"queue": queue, "job": job},
    )
    return _back(1)


def retry_queue() -> Response:
    """Put every failed job of a queue back on it; audited with the count."""
    tenant_id = _require_operator()
    form = RetryQueueForm()
    if not form.validate_on_submit():
        raise InvalidInput("Name the queue whose failed jobs to retry.", param="queue")
    queue = form.queue.data or ""
    count = status.retry_failed_queue(runtime().redis, queue=queue)
    audit.record(
        uow().session,
        context(actor(ActorType.USER, current_user.id)),
        actions.OPERATIONS_QUEUE_RETRIED,
        subject=audit.Ref("queue", queue, tenant_id),
        details={"queue": queue, "count": count},
    )
    return _back(count)
