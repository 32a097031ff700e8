"""The audit table cannot be written (its INSERT grant revoked, or a full disk): every audited action fails
cleanly, 503 with Retry-After, and writes nothing at all; once the table is writable again the same
requests succeed, and the processor moved money once."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from core.db import Base
from core.jobs.runtime import Runtime
from core.payments.models import PaymentStatus
from tests.chaos import figures, workers
from tests.factories import MadeTenant
from tests.fixtures import Factories, inspector
from tests.payments_helpers import auth, confirm, create_session, submit_pay_form, work_until_settled

pytestmark = [pytest.mark.postgres]

ROUNDS = figures.size(2, 30)


@contextmanager
def _insert_revoked(rt: Runtime) -> Iterator[None]:
    """The audit table is read-only for the application role."""
    app_role = rt.db.engine.url.username
    with inspector(rt).begin() as conn:
        conn.execute(text(f'REVOKE INSERT ON audit_events FROM "{app_role}"'))
    try:
        yield
    finally:
        with inspector(rt).begin() as conn:
            conn.execute(text(f'GRANT INSERT ON audit_events TO "{app_role}"'))


@contextmanager
def _disk_full(rt: Runtime) -> Iterator[None]:
    """Every write to the audit table fails as PostgreSQL fails on a full disk (SQLSTATE 53100)."""
    with inspector(rt).begin() as conn:
        conn.execute(
            text(
                "CREATE FUNCTION chaos_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "RAISE EXCEPTION 'could not extend file \"base/audit_events\": No space left on device' "
                "USING ERRCODE = 'disk_full'; END $$"
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER chaos_disk_full BEFORE INSERT ON audit_events "
                "FOR EACH ROW EXECUTE FUNCTION chaos_disk_full()"
            )
        )
    try:
        yield
    finally:
        with inspector(rt).begin() as conn:
            conn.execute(text("DROP TRIGGER chaos_disk_full ON audit_events"))
            conn.execute(text("DROP FUNCTION chaos_disk_full()"))


FAILURES: dict[str, Callable[[Runtime], Any]] = {"insert revoked": _insert_revoked, "disk full": _disk_full}


def _row_counts(rt: Runtime) -> dict[str, int]:
    """Every table's row count, every tenant's rows (a superuser's view)."""
    with inspector(rt).connect() as conn:
        return {
            table.name: int(conn.execute(text(f"SELECT count(*) FROM {table.name}")).scalar_one())
            for table in Base.metadata.sorted_tables
        }


def _succeeded_payment(client: FlaskClient, rt: Runtime, tenant: MadeTenant) -> str:
    payment_id = confirm(rt, tenant, create_session(client, tenant, amount=5000)["id"])
    assert work_until_settled(rt, tenant, payment_id).status is PaymentStatus.SUCCEEDED
    return payment_id


@pytest.mark.parametrize("failure", list(FAILURES))
def test_an_unwritable_audit_table_fails_each_action_cleanly(
    client: FlaskClient, make: Factories, clean: Runtime, failure: str
) -> None:
    tenant = make.tenants()
    key = auth(tenant.keys.secret_key)
    paid = [_succeeded_payment(client, clean, tenant) for _ in range(ROUNDS)]
    open_sessions = [create_session(client, tenant)["id"] for _ in range(ROUNDS)]
    started = time.monotonic()

    def actions(i: int) -> dict[str, Callable[[], Any]]:
        """What a merchant's server and a shopper do, each once per round (the same request each time)."""
        return {
            "session create": lambda: client.post(
                "/api/v1/checkout/sessions",
                json={"amount": 1200, "currency": "EUR"},
                headers={**key, "Idempotency-Key": f"{failure}-session-{i}"},
            ),
            "refund": lambda: client.post(
                "/api/v1/refunds",
                json={"payment": paid[i], "amount": 700},
                headers={**key, "Idempotency-Key": f"{failure}-refund-{i}"},
            ),
            "hosted page payment": lambda: submit_pay_form(client, open_sessions[i]),
        }

    answers: list[Any] = []
    before = _row_counts(clean)
    with FAILURES[failure](clean):
        for i in range(ROUNDS):
            answers += [(name, act()) for name, act in actions(i).items()]
        during = _row_counts(clean)
    written = {t: during[t] - before[t] for t in before if during[t] != before[t]}

    # Writable again: the very same requests go through.
    retried = [(name, act()) for i in range(ROUNDS) for name, act in actions(i).items()]
    acquirer = workers.sandbox(clean)
    refunds_at_processor = [acquirer.operations("refund", f"{p}:refund:1") for p in paid]

    not_503 = [(name, r.status_code) for name, r in answers if r.status_code != 503]
    scenario = figures.record(
        f"audit write failure: {failure}",
        zero=("answers_not_503", "without_retry_after", "rows_written", "retries_refused", "double_refunds"),
        actions=len(answers),
        answers_not_503=len(not_503),
        without_retry_after=sum(1 for _, r in answers if "Retry-After" not in r.headers),
        rows_written=sum(written.values()),
        retries_refused=sum(1 for _, r in retried if r.status_code not in (200, 201, 302, 303)),
        double_refunds=sum(1 for n in refunds_at_processor if n != 1),
        run_s=round(time.monotonic() - started, 1),
    )
    assert not not_503, not_503
    assert not written, f"written while the audit table could not be: {written}"
    api_errors = [r.json["error"] for name, r in answers if name != "hosted page payment"]
    assert {e["code"] for e in api_errors} == {"storage_unavailable"}
    assert all("nothing was changed" in e["message"] for e in api_errors)
    pages = [r.get_data(as_text=True) for name, r in answers if name == "hosted page payment"]
    assert all("Temporarily unavailable" in page for page in pages)
    assert scenario.ok, (
        scenario.values,
        [(n, r.status_code, r.get_data(as_text=True)[:300]) for n, r in retried],
    )
