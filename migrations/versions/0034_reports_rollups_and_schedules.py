"""reports: the coarse day x currency x outcome rollup, the shoppers' first days, scheduled exports

Revision ID: 0034
Revises: 0032
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

import core.db

from core.rls import disable_tenant_rls, enable_tenant_rls

revision = "0034"
down_revision = "0032"
branch_labels = None
depends_on = None

TABLES = ("report_day_totals", "report_shoppers", "report_schedules", "report_export_files")
SOURCES = ("report_daily", "report_customer_days")


def _tenant(table: str) -> list[sa.Column[str] | sa.ForeignKeyConstraint]:
    return [
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants")),
    ]


def upgrade() -> None:
    op.create_table(
        "report_day_totals",
        *_tenant("report_day_totals"),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("outcome", sa.String(length=12), nullable=False),
        sa.Column("payments", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("captured", sa.BigInteger(), nullable=False),
        sa.Column("fees", sa.BigInteger(), nullable=False),
        sa.Column("refunds", sa.Integer(), nullable=False),
        sa.Column("refunded", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_report_day_totals")),
    )
    op.create_index(
        "ix_report_day_totals_range", "report_day_totals", ["tenant_id", "livemode", "day", "currency"]
    )
    op.create_table(
        "report_shoppers",
        *_tenant("report_shoppers"),
        sa.Column("id", sa.String(length=50), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("customer", sa.String(length=40), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_report_shoppers")),
    )
    # The shopper figures read (customer, payments, volume) of a period's customer days: from the index
    # alone once vacuumed (an index-only scan), not one heap page per row.
    op.drop_index("ix_report_customer_days_range", table_name="report_customer_days")
    op.create_index(
        "ix_report_customer_days_range",
        "report_customer_days",
        ["tenant_id", "livemode", "currency", "day"],
        postgresql_include=["customer", "payments", "volume"],
    )
    op.create_table(
        "report_schedules",
        *_tenant("report_schedules"),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("period", sa.String(length=20), nullable=False),
        sa.Column("frequency", sa.String(length=10), nullable=False),
        sa.Column("recipients", core.db.JSON_TYPE, nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("next_run_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_run_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_report_schedules")),
    )
    op.create_table(
        "report_export_files",
        *_tenant("report_export_files"),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("schedule_id", sa.String(length=40), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("start", sa.Date(), nullable=False),
        sa.Column("end", sa.Date(), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_report_export_files")),
    )
    # Existing rollups: fill both from what is there (they are sums and minima of it). The sources force
    # row-level security on their owner too, so it is lifted for these two statements (every tenant's rows).
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        for source in SOURCES:
            op.execute(f"ALTER TABLE {source} NO FORCE ROW LEVEL SECURITY")
    op.execute(
        """
        INSERT INTO report_day_totals (tenant_id, id, livemode, day, currency, outcome,
                                       payments, amount, captured, fees, refunds, refunded)
        SELECT tenant_id,
               CASE WHEN livemode THEN 'live' ELSE 'test' END || '|' || to_char(day, 'YYYY-MM-DD')
                   || '|' || currency || '|' || outcome,
               livemode, day, currency, outcome,
               sum(payments), sum(amount), sum(captured), sum(fees), sum(refunds), sum(refunded)
        FROM report_daily GROUP BY tenant_id, livemode, day, currency, outcome
        """
        if postgres
        else """
        INSERT INTO report_day_totals (tenant_id, id, livemode, day, currency, outcome,
                                       payments, amount, captured, fees, refunds, refunded)
        SELECT tenant_id,
               CASE WHEN livemode THEN 'live' ELSE 'test' END || '|' || day || '|' || currency
                   || '|' || outcome,
               livemode, day, currency, outcome,
               sum(payments), sum(amount), sum(captured), sum(fees), sum(refunds), sum(refunded)
        FROM report_daily GROUP BY tenant_id, livemode, day, currency, outcome
        """
    )
    op.execute(
        """
        INSERT INTO report_shoppers (tenant_id, id, livemode, customer, first_day)
        SELECT tenant_id, CASE WHEN livemode THEN 'live' ELSE 'test' END || '|' || customer,
               livemode, customer, min(day)
        FROM report_customer_days WHERE payments > 0 GROUP BY tenant_id, livemode, customer
        """
    )
    if postgres:
        for source in SOURCES:
            op.execute(f"ALTER TABLE {source} FORCE ROW LEVEL SECURITY")
    for table in TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in TABLES:
        disable_tenant_rls(table)
    op.drop_index("ix_report_customer_days_range", table_name="report_customer_days")
    op.create_index(
        "ix_report_customer_days_range", "report_customer_days", ["tenant_id", "livemode", "currency", "day"]
    )
    op.drop_table("report_export_files")
    op.drop_table("report_schedules")
    op.drop_table("report_shoppers")
    op.drop_index("ix_report_day_totals_range", table_name="report_day_totals")
    op.drop_table("report_day_totals")
