"""Two tenants' API clients at once, through a real pgbouncer in transaction pooling mode.

Kassa connects as the application role through pgbouncer (`DATABASE_APP_URL` on its port,
`DATABASE_POOLER=transaction`); pgbouncer has fewer server connections than Kassa has clients, so the two
tenants' transactions keep taking turns on the same server connections. Before `DATABASE_POOLER` about a
third of such requests answered 500 (`prepared statement "_pg3_0" does not exist`): psycopg prepared
repeated statements on a server connection the next transaction might not get.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask

from core.config import Settings
from core.jobs.runtime import Runtime
from tests.factories import MadeTenant
from tests.fixtures import Factories
from tests.pgbouncer import SERVER_POOL_SIZE, Pgbouncer
from tests.portal.live import Answer, send, serve

pytestmark = pytest.mark.postgres

THREADS, ROUNDS = 16, 25


def test_transaction_pooling_turns_off_server_side_prepared_statements(settings: Settings) -> None:
    from core.db import make_engine

    for pooler, threshold in (("transaction", None), ("", 5)):  # 5: psycopg's default
        engine = make_engine(settings.app_database_url, pooler=pooler)
        try:
            with engine.connect() as conn:
                assert conn.connection.driver_connection.prepare_threshold == threshold, pooler  # type: ignore[union-attr]
        finally:
            engine.dispose()


def test_two_tenants_api_traffic_through_pgbouncer_has_no_errors_and_no_cross_tenant_reads(
    pooled_app: Flask, pooled_runtime: Runtime, make: Factories, pgbouncer: Pgbouncer
) -> None:
    app, rt = pooled_app, pooled_runtime
    tenants = [make.tenants(), make.tenants()]
    assert rt.db.engine.pool.size() > SERVER_POOL_SIZE  # more clients than pgbouncer has server connections
    created: dict[str, set[str]] = {t.id: set() for t in tenants}
    listed: dict[str, set[str]] = {t.id: set() for t in tenants}
    foreign: list[Answer] = []
    answers: list[Answer] = []

    def client(index: int) -> None:
        tenant, other = tenants[index % 2], tenants[(index + 1) % 2]
        key = tenant.keys.secret_key
        for round_ in range(ROUNDS):
            made = send(
                address,
                "POST",
                "/api/v1/checkout/sessions",
                key=key,
                body={"amount": 100 + round_, "currency": "EUR", "reference": f"{index}-{round_}"},
            )
            answers.append(made)
            if made.status == 201:
                created[tenant.id].add(made.body["id"])
                got = send(address, "GET", f"/api/v1/checkout/sessions/{made.body['id']}", key=key)
                answers.append(got)
            page = send(address, "GET", "/api/v1/checkout/sessions?limit=100", key=key)
            answers.append(page)
            if page.status == 200:
                listed[tenant.id].update(s["id"] for s in page.body["data"])
            theirs = sorted(created[other.id])
            if theirs:
                foreign.append(send(address, "GET", f"/api/v1/checkout/sessions/{theirs[-1]}", key=key))
            answers.append(send(address, "GET", "/api/v1/checkout/settings", key=key))

    with serve(app) as address, ThreadPoolExecutor(max_workers=THREADS) as pool:
        list(pool.map(client, range(THREADS)))

    statuses = Counter(a.status for a in answers + foreign)
    print(f"\npgbouncer transaction mode: {sum(statuses.values())} requests, statuses {dict(statuses)}")
    errors = [a.body for a in answers + foreign if a.status >= 500]
    assert not errors, (errors[:3], pgbouncer.log_text()[-2000:])
    assert {a.status for a in answers} <= {200, 201}, statuses
    a, b = (t.id for t in tenants)
    assert len(created[a]) == len(created[b]) == THREADS // 2 * ROUNDS
    assert listed[a] <= created[a] and listed[b] <= created[b]  # no list ever showed the other's sessions
    assert foreign and {f.status for f in foreign} == {404}  # the other tenant's id: 404, never its data
    _assert_pooled(tenants, rt)


def _assert_pooled(tenants: list[MadeTenant], rt: Runtime) -> None:
    """The sessions were written under their own tenants (read back straight from PostgreSQL)."""
    from sqlalchemy import text

    from tests.fixtures import inspector

    with inspector(rt).connect() as conn:
        rows = conn.execute(
            text("SELECT tenant_id, count(*) FROM checkout_sessions GROUP BY tenant_id")
        ).all()
    assert {tenant_id: count for tenant_id, count in rows} == {t.id: THREADS // 2 * ROUNDS for t in tenants}
