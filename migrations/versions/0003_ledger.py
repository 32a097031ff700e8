"""ledger journals, entries and pricing

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

import core.db
from core.rls import disable_tenant_rls, enable_tenant_rls

TENANT_TABLES = ("ledger_journals", "ledger_entries", "ledger_pricing")

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_journals",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("reference_id", sa.String(length=64), nullable=False),
        sa.Column("memo", sa.String(length=200), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_ledger_journals_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_ledger_journals")),
        sa.UniqueConstraint(
            "tenant_id", "kind", "reference_id", name=op.f("uq_ledger_journals_tenant_id_kind_reference_id")
        ),
    )
    with op.batch_alter_table("ledger_journals", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ledger_journals_tenant_id_reference_id", ["tenant_id", "reference_id"], unique=False
        )

    op.create_table(
        "ledger_entries",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("journal_id", sa.String(length=40), nullable=False),
        sa.Column("account", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_ledger_entries_amount_nonzero")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "journal_id"],
            ["ledger_journals.tenant_id", "ledger_journals.id"],
            name=op.f("fk_ledger_entries_tenant_id_journal_id_ledger_journals"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_ledger_entries_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_ledger_entries")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ledger_entries_tenant_id_account_currency", ["tenant_id", "account", "currency"], unique=False
        )
        batch_op.create_index(
            "ix_ledger_entries_tenant_id_journal_id", ["tenant_id", "journal_id"], unique=False
        )

    op.create_table(
        "ledger_pricing",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("percent_bps", sa.Integer(), nullable=False),
        sa.Column("fixed_amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("updated_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(id = 'default' AND currency IS NULL) OR id = currency",
            name=op.f("ck_ledger_pricing_id_matches_currency"),
        ),
        sa.CheckConstraint(
            "percent_bps >= 0 AND percent_bps <= 10000", name=op.f("ck_ledger_pricing_percent_bps_range")
        ),
        sa.CheckConstraint("fixed_amount >= 0", name=op.f("ck_ledger_pricing_fixed_amount_nonnegative")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_ledger_pricing_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_ledger_pricing")),
    )

    for table in TENANT_TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in TENANT_TABLES:
        disable_tenant_rls(table)
    op.drop_table("ledger_pricing")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_entries_tenant_id_journal_id")
        batch_op.drop_index("ix_ledger_entries_tenant_id_account_currency")
    op.drop_table("ledger_entries")
    with op.batch_alter_table("ledger_journals", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_journals_tenant_id_reference_id")
    op.drop_table("ledger_journals")
