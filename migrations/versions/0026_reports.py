"""reports: daily rollups, shoppers per day and the facts they are kept from (core/reports/models.py)

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

import core.db
from core.rls import disable_tenant_rls, enable_tenant_rls

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

TABLES = ("report_daily", "report_customer_days", "report_facts")


def _tenant(table: str) -> list[sa.Column[str] | sa.ForeignKeyConstraint]:
    return [
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants")),
    ]


def upgrade() -> None:
    op.create_table(
        "report_daily",
        *_tenant("report_daily"),
        sa.Column("id", sa.String(length=160), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
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
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_report_daily")),
    )
    op.create_index("ix_report_daily_range", "report_daily", ["tenant_id", "livemode", "currency", "day"])
    op.create_table(
        "report_customer_days",
        *_tenant("report_customer_days"),
        sa.Column("id", sa.String(length=120), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("customer", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=320), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("payments", sa.Integer(), nullable=False),
        sa.Column("volume", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_report_customer_days")),
    )
    op.create_index(
        "ix_report_customer_days_range", "report_customer_days", ["tenant_id", "livemode", "currency", "day"]
    )
    op.create_index(
        "ix_report_customer_days_customer",
        "report_customer_days",
        ["tenant_id", "livemode", "customer", "day"],
    )
    op.create_table(
        "report_facts",
        *_tenant("report_facts"),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("daily_id", sa.String(length=160), nullable=False),
        sa.Column("customer_day_id", sa.String(length=120), nullable=True),
        sa.Column("payments", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("captured", sa.BigInteger(), nullable=False),
        sa.Column("fees", sa.BigInteger(), nullable=False),
        sa.Column("refunds", sa.Integer(), nullable=False),
        sa.Column("refunded", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=True),
        sa.Column("updated_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_report_facts")),
    )
    for table in TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in TABLES:
        disable_tenant_rls(table)
    op.drop_table("report_facts")
    op.drop_index("ix_report_customer_days_customer", table_name="report_customer_days")
    op.drop_index("ix_report_customer_days_range", table_name="report_customer_days")
    op.drop_table("report_customer_days")
    op.drop_index("ix_report_daily_range", table_name="report_daily")
    op.drop_table("report_daily")
