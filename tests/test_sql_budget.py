"""SQL statements per hot path, counted, so a regression shows in CI without timing anything.

On this stack a page's speed is decided by its round trips to the database, not by Python: every statement
below is one. The budgets are today's counts on PostgreSQL (and on SQLite, which has no `set_config` and
no row locks); a change that adds a statement to one of these paths must raise its budget here on purpose,
and say why in its commit.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from flask.testing import FlaskClient
from sqlalchemy import event

from core.jobs.runtime import Runtime
from tests.factories import MadeTenant
from tests.fixtures import Factories, is_postgres
from tests.payments_helpers import CARD_FORM, auth, create_session, submit_pay_form, work

#: path -> (PostgreSQL budget, SQLite budget). An audited action costs 3 statements on PostgreSQL (the
#: signed head row read FOR UPDATE, the event INSERT, the head UPDATE) and 3 on SQLite (no advisory lock
#: there, so the head's read is the one the chain needed anyway, plus the INSERT and the head UPDATE).
#: Every emit writes one outbox row per subscriber that hears it (core/events/subscribers.py): receipts
#: the completed checkout, reports the payment and refund events, and webhooks only when the tenant has an
#: enabled endpoint of the mode subscribed to the type: one query per transaction tells
#: (core/webhooks/service.py `wants_event`); a transaction's jobs of one tenant are relayed in one pass after
#: its commit (3 statements).
BUDGETS = {
    "hosted page GET": (6, 4),
    # 16: the endpoints query replaced the webhooks fan-out's outbox row and its relay (was 19).
    "session create": (16, 12),
    # 26: the endpoints query is one more statement here (payment.created's reports row was written in
    # the same INSERT as the webhooks row before: was 25).
    "confirm POST": (26, 24),
    # The processing job (screening, the processor call, the ledger, the balance transaction, two events,
    # three audit rows, one endpoints query), the relay of its outbox, then the subscribers' jobs: two
    # report rollup updates and the receipts job. No webhook fan-out job for a tenant without endpoints
    # (was 74: four fan-outs of 2 statements each).
    "payment job": (67, 62),
}


class Counter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, _conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        self.statements.append(statement)


@contextmanager
def counting(rt: Runtime) -> Iterator[Counter]:
    counter = Counter()
    engines = {id(e): e for e in (rt.db.engine, rt.db.owner_engine)}
    for engine in engines.values():
        event.listen(engine, "before_cursor_execute", counter)
    try:
        yield counter
    finally:
        for engine in engines.values():
            event.remove(engine, "before_cursor_execute", counter)


def _over_budget(rt: Runtime, counted: dict[str, Counter]) -> list[str]:
    problems = []
    for path, counter in counted.items():
        pg_budget, sqlite_budget = BUDGETS[path]
        budget = pg_budget if is_postgres(rt.settings) else sqlite_budget
        if len(counter.statements) > budget:
            listing = "\n".join(
                f"  {i + 1}. {s.split(chr(10))[0][:120]}" for i, s in enumerate(counter.statements)
            )
            problems.append(
                f"{path} sent {len(counter.statements)} SQL statements, budget {budget}:\n{listing}"
            )
    return problems


def _warm(client: FlaskClient, tenant: MadeTenant) -> str:
    """One session paid end to end first, so caches of the process are what they are in production."""
    first = create_session(client, tenant)
    submit_pay_form(client, first["id"])
    return str(create_session(client, tenant)["id"])


def test_hot_paths_stay_within_their_sql_budgets(
    client: FlaskClient, clean: Runtime, make: Factories
) -> None:
    tenant = make.tenants()
    session_id = _warm(client, tenant)
    work(clean)

    counted: dict[str, Counter] = {}
    with counting(clean) as counted["hosted page GET"]:
        assert client.get(f"/pay/{session_id}").status_code == 200

    with counting(clean) as counted["session create"]:
        answer = client.post(
            "/api/v1/checkout/sessions",
            json={"amount": 2500, "currency": "EUR"},
            headers={**auth(tenant.keys.secret_key), "Idempotency-Key": "budget-1"},
        )
    assert answer.status_code == 201, answer.json
    created = answer.json

    page = client.get(f"/pay/{created['id']}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token is not None
    with counting(clean) as counted["confirm POST"]:
        response = client.post(f"/pay/{created['id']}", data={"csrf_token": token.group(1), **CARD_FORM})
    assert response.status_code in (200, 302, 303), response.get_data(as_text=True)

    with counting(clean) as counted["payment job"]:
        work(clean)

    problems = _over_budget(clean, counted)
    assert not problems, "\n".join(problems)
