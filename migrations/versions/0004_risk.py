"""risk settings and block lists

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import core.db
from core.rls import disable_tenant_rls, enable_tenant_rls

TENANT_TABLES = ("risk_block_list", "risk_settings")

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "risk_block_list",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_risk_block_list_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_risk_block_list")),
        sa.UniqueConstraint(
            "tenant_id", "kind", "value", name=op.f("uq_risk_block_list_tenant_id_kind_value")
        ),
    )
    op.create_table(
        "risk_settings",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("max_amount", sa.BigInteger(), nullable=False),
        sa.Column("review_amount", sa.BigInteger(), nullable=False),
        sa.Column("max_attempts_per_card_hour", sa.Integer(), nullable=False),
        sa.Column("max_attempts_per_email_hour", sa.Integer(), nullable=False),
        sa.Column("max_attempts_per_ip_hour", sa.Integer(), nullable=False),
        sa.Column("max_declines_per_session", sa.Integer(), nullable=False),
        sa.Column("max_declines_per_ip_hour", sa.Integer(), nullable=False),
        sa.Column("max_declines_per_card_hour", sa.Integer(), nullable=False),
        sa.Column(
            "blocked_countries",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_risk_settings_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_risk_settings")),
    )
    for table in TENANT_TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in TENANT_TABLES:
        disable_tenant_rls(table)
    op.drop_table("risk_settings")
    op.drop_table("risk_block_list")
