"""The jobs of people's accounts: emailing a password reset link (queue `default`, system outbox)."""

from __future__ import annotations

from core.context import Actor
from core.jobs import runtime
from core.jobs.queues import DEFAULT
from core.jobs.registry import Cron, job
from tenants import password_reset


@job(queue=DEFAULT, retry_intervals=(5, 30, 120))
def send_password_reset(reset_id: str) -> bool:
    """Email one reset link. Safe to run twice: a sent, used or expired reset is left alone. The mail
    server being unavailable raises, and RQ tries again (within the link's 30 minutes)."""
    rt = runtime.current()
    with rt.db.unit_of_work() as uow:
        return password_reset.send(
            uow.session,
            rt.context(uow, Actor.system("worker")),
            reset_id=reset_id,
            mailer=rt.mailer(),
            sender=rt.settings.mail_from,
        )


#: Nothing to schedule: every reset is sent by the job its request wrote.
CRON: tuple[Cron, ...] = ()
