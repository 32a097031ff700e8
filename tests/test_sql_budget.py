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

#: path -> (PostgreSQL budget, SQLite budget). The first audited action of a transaction costs 3 statements
#: (the signed head row read FOR UPDATE, the event INSERT, the head UPDATE); later ones in the same
#: transaction reuse the locked head and are written with it at the next flush (core/audit/service.py).
#: Every emit writes one outbox row per subscriber that hears it (core/events/subscribers.py): receipts
#: the completed checkout, reports the payment and refund events, and webhooks only when the tenant has an
#: enabled endpoint of the mode subscribed to the type: one query per transaction tells
#: (core/webhooks/service.py `wants_event`). A transaction's jobs of one tenant are relayed in one pass
#: after its commit (2 statements on PostgreSQL: the tenant, then one UPDATE … RETURNING that claims and
#: marks the rows). A transaction that begins with no tenant sends no `set_config` (the setting is known to
#: be empty), and the hosted page's session lookup sets its tenant in the same round trip. On PostgreSQL the
#: round trip that sets the tenant also reads its cache version, and while it is unchanged the locality
#: rules in force, the API key's lookup, the tenant's webhook subscriptions and its data key rows come from
#: the process's cache (core/tenant_cache.py): none on SQLite, which reads the rules in force and the moment
#: of the next scheduled change of them (2 statements) on every request.
BUDGETS = {
    "hosted page GET": (2, 4),
    "session create": (10, 13),
    "confirm POST": (16, 25),
    # The processing job (screening, the processor call, the ledger, the balance transaction, two events
    # each numbered by its INSERT, three audit rows on one head read, one endpoints query), the relay of
    # its outbox, then the subscribers' jobs: two report rollup updates and the receipts job. No webhook
    # fan-out job for a tenant without endpoints. A rollup update moves the day's cells, their day totals
    # and their month rows: one statement on PostgreSQL (data-modifying CTEs), three on SQLite.
    "payment job": (56, 59),
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
    """Two sessions paid first, so caches of the process are what they are in production (the first
    payment of a tenant makes its data keys: its transaction keeps nothing in the tenant cache)."""
    for _ in range(2):
        submit_pay_form(client, create_session(client, tenant)["id"])
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
