"""Reports on a streaming read replica, on real servers: a private primary cluster (`wal_level=replica`, a
replication role) seeded with Kassa by the production roles (a plain owner runs the migrations, the
application role serves), a hot standby made from it with `pg_basebackup -R` on another port, and
`ANALYTICS_DATABASE_URL` pointing at the standby as the application role.

Which server answered is read from the servers themselves (pg_stat_statements on both), not from a flag
of Kassa's: the report API, the reports page and every CSV export run their queries on the standby and
not on the primary, read-only, with the tenant's `set_config` working there; rollups written on the
primary appear on the standby; and the replica's lag is the operator view's and `kassa status`'s."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text
from sqlalchemy.exc import InternalError

from core import migrate
from core.config import Settings
from core.context import Actor
from core.jobs import runtime as runtime_module
from core.jobs import status
from core.jobs.runtime import Runtime
from core.reports import exports, schedules, service
from core.reports.models import ReportSchedule
from tests.factories import Builder, MadeTenant, PaymentFactory, RefundFactory, TenantFactory
from tests.fixtures import CheckedClient, is_postgres, skip_or_fail
from tests.payments_helpers import auth
from tests.portal.test_sign_in import sign_in
from tests.postgres_cluster import Cluster
from wsgi import create_app

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

OWNER, APP, DEFINER, REPLICATOR = "kassa_owner", "kassa_app", "kassa_definer", "kassa_replicator"
#: Both servers count every statement (nested ones too: an export's SELECT runs inside a DECLARE CURSOR).
STATEMENTS = {"shared_preload_libraries": "pg_stat_statements", "pg_stat_statements.track": "all"}


@dataclass
class Replicated:
    primary: Cluster
    standby: Cluster
    rt: Runtime
    app: Flask

    def caught_up(self) -> None:
        self.standby.wait_for_replay(self.primary, database="kassa")

    def forget_statements(self) -> None:
        for server in (self.primary, self.standby):
            server.sql("SELECT monitoring.pg_stat_statements_reset()", database="kassa")

    def statements(self, server: Cluster, like: str) -> list[str]:
        """The application role's statements on `server` since the last reset whose text is `like`."""
        rows = server.sql(
            "SELECT s.query FROM monitoring.pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid"
            " WHERE r.rolname = :role AND s.query ILIKE :like AND s.calls > 0",
            database="kassa",
            role=APP,
            like=like,
        )
        return [str(q) for (q,) in rows]


@pytest.fixture(scope="module")
def replicated(migrated: Settings, rt: Runtime) -> Iterator[Replicated]:
    if not is_postgres(migrated):
        skip_or_fail("needs PostgreSQL: set DATABASE_URL (bash .ci/run does)")
    primary = Cluster({"wal_level": "replica", "max_wal_senders": "4", **STATEMENTS})
    standby: Cluster | None = None
    made: Runtime | None = None
    try:
        primary.start()
        # The production roles (docs/operations.md "Database roles", as .ci/run makes them): a plain owner
        # that owns the database and runs the migrations; bootstrap-roles makes the definer and the
        # application role. Besides them, a role that may only stream WAL, for pg_basebackup.
        primary.sql(f"CREATE ROLE {REPLICATOR} LOGIN REPLICATION")
        primary.sql(f"CREATE ROLE {OWNER} LOGIN NOSUPERUSER NOBYPASSRLS CREATEROLE")
        primary.sql(f"CREATE DATABASE kassa OWNER {OWNER}")
        # In a schema of its own: the migrations grant the application role every function in `public`.
        primary.sql("CREATE SCHEMA monitoring", database="kassa")
        primary.sql("CREATE EXTENSION pg_stat_statements SCHEMA monitoring", database="kassa")
        settings = migrated.with_changes(
            database_url=primary.url("kassa", OWNER),
            database_app_url=primary.url("kassa", APP),
            definer_role=DEFINER,
        )
        migrate.bootstrap_roles(settings, primary.url("kassa"))
        migrate.upgrade(settings)

        standby = Cluster.standby_of(primary, user=REPLICATOR)
        standby.start()
        settings = settings.with_changes(analytics_database_url=standby.url("kassa", APP))
        made = runtime_module.build(settings)
        runtime_module.install(made)
        app = create_app(settings, runtime=made)
        app.test_client_class = CheckedClient
        yield Replicated(primary=primary, standby=standby, rt=made, app=app)
    finally:
        if made is not None:
            made.db.dispose()
            if made._analytics is not None:
                made._analytics.dispose()
        runtime_module.install(rt)
        if standby is not None:
            standby.remove()
        primary.remove()


@pytest.fixture
def shop(replicated: Replicated) -> MadeTenant:
    rt = replicated.rt
    rt.redis.flushdb()
    tenant: MadeTenant = Builder(TenantFactory, rt)()
    payments = Builder(PaymentFactory, rt)
    payments(tenant=tenant, amount=1000, customer_email="ann@example.com")
    paid = payments(tenant=tenant, amount=2001)
    Builder(RefundFactory, rt)(tenant=tenant, payment=paid, amount=500)
    payments(tenant=tenant, failed=True, amount=700)
    for _ in service.rebuild(rt, tenant_id=tenant.id, actor=Actor.system("test")):
        pass
    replicated.caught_up()
    return tenant


def _summary(client: FlaskClient, replicated: Replicated, tenant: MadeTenant) -> dict[str, int]:
    today = replicated.rt.clock.now().date()
    response = client.get(
        f"/api/v1/reports/summary?from={today - timedelta(days=6)}&to={today}&currency=EUR",
        headers=auth(tenant.keys.secret_key),
    )
    assert response.status_code == 200, response.json
    (eur,) = response.json["data"]
    totals: dict[str, int] = eur["totals"]
    return totals


def test_the_report_api_and_a_csv_export_are_served_by_the_replica(
    replicated: Replicated, shop: MadeTenant
) -> None:
    client = replicated.app.test_client()
    replicated.forget_statements()
    totals = _summary(client, replicated, shop)
    assert totals["payments"] == 3 and totals["volume"] == 3001 and totals["refunded"] == 500
    # The rollup query ran on the standby, as the application role, and never on the primary.
    assert replicated.statements(replicated.standby, "%FROM report_day_totals%")
    assert not replicated.statements(replicated.primary, "%report_day_totals%")

    sign_in(client, shop)
    replicated.forget_statements()
    response = client.get("/portal/reports/export/payments.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert sorted(int(r["amount_minor"]) for r in rows) == [700, 1000, 2001]
    assert replicated.statements(replicated.standby, "%FROM payments LEFT OUTER JOIN%")
    assert not replicated.statements(replicated.primary, "%FROM payments LEFT OUTER JOIN%")
    # The export's audit entry is a write: it went to the primary, in the request's own transaction.
    assert replicated.statements(replicated.primary, "INSERT INTO audit_events%")


def test_every_analytics_path_works_read_only_on_the_hot_standby(
    replicated: Replicated, shop: MadeTenant
) -> None:
    rt = replicated.rt
    assert rt.has_replica and rt.analytics.read_only
    client = replicated.app.test_client()
    sign_in(client, shop)
    replicated.forget_statements()

    page = client.get("/portal/reports")
    assert page.status_code == 200 and "€30.01" in page.get_data(as_text=True)
    for kind in exports.EXPORTS:
        response = client.get(f"/portal/reports/export/{kind}.csv")
        assert response.status_code == 200, (kind, response.get_data(as_text=True)[:300])
        assert response.get_data(as_text=True).count("\n") >= 1, kind  # at least its header line

    # A scheduled export's signed link streams its file from the standby too.
    with rt.db.unit_of_work(tenant_id=shop.id) as uow:
        schedule = schedules.create(
            uow.session,
            rt.context(uow, Actor.system("test")),
            livemode=False,
            kind="payments",
            period="last_7_days",
            frequency="daily",
            recipients=[shop.owner.id],
            allowed_recipients={shop.owner.id},
            created_by=shop.owner.id,
        )
        # Its run tomorrow, whose last 7 days end today: the run time `create` picks is the next 06:00 UTC,
        # which before 06:00 is today's, covering up to yesterday and none of these payments.
        schedule.next_run_at = rt.clock.now() + timedelta(days=1)
        made = schedules.produce(uow.session, rt.context(uow, Actor.system("test")), schedule)
        token = schedules.sign(rt.settings.secret_key, made, user_id=shop.owner.id)
    replicated.caught_up()
    download = replicated.app.test_client().get(f"/portal/reports/download/{token}")
    assert download.status_code == 200 and download.mimetype == "text/csv"
    assert len(download.get_data(as_text=True).strip().splitlines()) == 4  # header and three payments

    # Every one of those reads ran on the standby; none errored there (a refused SET or write would).
    on_standby = replicated.statements(replicated.standby, "%FROM %")
    assert any("report_daily" in q for q in on_standby) and any("FROM refunds" in q for q in on_standby)
    assert not replicated.statements(replicated.primary, "%report_daily%")
    assert replicated.statements(replicated.standby, "SELECT set_config(%")

    # The analytics transactions are read-only and tenant-bound on the standby itself.
    with rt.analytics.unit_of_work(tenant_id=shop.id) as analytics:
        session = analytics.session
        assert session.scalar(select(ReportSchedule.id)) == schedule.id  # the tenant's row, under RLS
        assert session.scalar(text("SELECT current_setting('app.tenant_id')")) == shop.id
        assert session.scalar(text("SHOW transaction_read_only")) == "on"
        assert session.scalar(text("SELECT pg_is_in_recovery()")) is True
    with (
        pytest.raises(InternalError, match="read-only transaction"),
        rt.analytics.unit_of_work(tenant_id=shop.id) as analytics,
    ):
        analytics.session.execute(text("DELETE FROM report_schedules"))


def test_rollups_written_on_the_primary_appear_on_the_replica(
    replicated: Replicated, shop: MadeTenant
) -> None:
    rt, client = replicated.rt, replicated.app.test_client()
    assert _summary(client, replicated, shop)["payments"] == 3
    Builder(PaymentFactory, rt)(tenant=shop, amount=4000)
    for _ in service.rebuild(rt, tenant_id=shop.id, actor=Actor.system("test")):
        pass
    replicated.caught_up()
    totals = _summary(client, replicated, shop)
    assert totals["payments"] == 4 and totals["volume"] == 7001


def test_the_replica_lag_is_in_the_operator_view_and_kassa_status(
    replicated: Replicated, shop: MadeTenant
) -> None:
    rt = replicated.rt
    assert status.replica_lag(rt.db, rt.db) is None  # no ANALYTICS_DATABASE_URL: no replica, no figure
    replicated.caught_up()
    lag = status.replica_lag(rt.db, rt.analytics)
    assert lag is not None and lag.standby and lag.receiving and lag.error is None
    assert lag.lag_seconds is not None and 0 <= lag.lag_seconds < 60 and lag.replayed_at is not None
    assert not lag.stale

    body = json.loads(replicated.app.test_cli_runner().invoke(args=["status", "--json"]).output)
    assert body["replica"]["standby"] is True and body["replica"]["receiving"] is True
    assert isinstance(body["replica"]["lag_seconds"], int | float)
    assert "replica: streaming, lag " in replicated.app.test_cli_runner().invoke(args=["status"]).output

    client = replicated.app.test_client()
    sign_in(client, shop)
    rt.settings = rt.settings.with_changes(operator_tenants=(shop.tenant.slug,))
    try:
        page = client.get("/portal/operations").get_data(as_text=True)
        assert "<dt>Replica lag</dt>" in page and "<dt>Streaming from the primary</dt><dd>yes</dd>" in page

        # The standby down: the figure says so and the platform is not healthy (reports would fail).
        replicated.standby.stop()
        try:
            rt.analytics.engine.dispose()
            down = status.replica_lag(rt.db, rt.analytics)
            assert down is not None and down.stale and (down.error or "").startswith("unavailable (")
            page = client.get("/portal/operations").get_data(as_text=True)
            assert "the read replica is behind or not streaming" in page
        finally:
            replicated.standby.start()
            rt.analytics.engine.dispose()
    finally:
        rt.settings = rt.settings.with_changes(operator_tenants=())
    replicated.caught_up()  # streaming again after the restart
    again = status.replica_lag(rt.db, rt.analytics)
    assert again is not None and again.error is None and again.standby
