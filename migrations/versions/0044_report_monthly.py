"""reports: the month-grain rollup beside report_daily

`report_monthly` holds the sums of `report_daily`'s cells per month (every other dimension kept): a
year's decline, method and country mix read whole months from it (about 30 times fewer rows) and the
days of a range's partial first and last months from `report_daily`. Filled here from what is there.

Revision ID: 0044
Revises: 0043
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from core.rls import disable_tenant_rls, enable_tenant_rls

revision = "0044"
down_revision = "0043"
branch_labels = None
depends_on = None

INCLUDED = ["method", "country", "outcome", "decline_code", "payments", "amount", "captured"]


def upgrade() -> None:
    op.create_table(
        "report_monthly",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=160), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("outcome", sa.String(length=12), nullable=False),
        sa.Column("decline_code", sa.String(length=64), nullable=False),
        sa.Column("payments", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("captured", sa.BigInteger(), nullable=False),
        sa.Column("fees", sa.BigInteger(), nullable=False),
        sa.Column("refunds", sa.Integer(), nullable=False),
        sa.Column("refunded", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_report_monthly_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_report_monthly")),
    )
    op.create_index(
        "ix_report_monthly_range",
        "report_monthly",
        ["tenant_id", "livemode", "currency", "month"],
        postgresql_include=INCLUDED,
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    # report_daily forces row-level security on its owner too: lifted for the fill (every tenant's rows).
    if postgres:
        op.execute("ALTER TABLE report_daily NO FORCE ROW LEVEL SECURITY")
    month = "date_trunc('month', day)::date" if postgres else "date(day, 'start of month')"
    month_text = f"to_char({month}, 'YYYY-MM-DD')" if postgres else month
    op.execute(
        f"""
        INSERT INTO report_monthly (tenant_id, id, livemode, month, currency, method, country, outcome,
                                    decline_code, payments, amount, captured, fees, refunds, refunded)
        SELECT tenant_id,
               CASE WHEN livemode THEN 'live' ELSE 'test' END || '|' || {month_text} || '|' || currency
                   || '|' || method || '|' || country || '|' || outcome || '|' || decline_code,
               livemode, {month}, currency, method, country, outcome, decline_code,
               sum(payments), sum(amount), sum(captured), sum(fees), sum(refunds), sum(refunded)
        FROM report_daily
        GROUP BY tenant_id, livemode, {month}, currency, method, country, outcome, decline_code
        """  # noqa: S608  (no input: the two dialects' month expressions)
    )
    if postgres:
        op.execute("ALTER TABLE report_daily FORCE ROW LEVEL SECURITY")
    enable_tenant_rls("report_monthly")


def downgrade() -> None:
    disable_tenant_rls("report_monthly")
    op.drop_index("ix_report_monthly_range", table_name="report_monthly")
    op.drop_table("report_monthly")
