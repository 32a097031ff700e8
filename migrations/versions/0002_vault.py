"""vault data keys and card tokens

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

import core.db
from core.rls import disable_tenant_rls, enable_tenant_rls

TENANT_TABLES = ("vault_data_keys", "vault_cards")

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vault_data_keys",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("kms_key_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_vault_data_keys_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_vault_data_keys")),
        sa.UniqueConstraint("tenant_id", "purpose", name=op.f("uq_vault_data_keys_tenant_id_purpose")),
    )
    op.create_table(
        "vault_cards",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("data_key_id", sa.String(length=40), nullable=False),
        sa.Column("pan_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("brand", sa.String(length=20), nullable=False),
        sa.Column("last4", sa.String(length=4), nullable=False),
        sa.Column("exp_month", sa.Integer(), nullable=False),
        sa.Column("exp_year", sa.Integer(), nullable=False),
        sa.Column("bin_country", sa.String(length=2), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "data_key_id"],
            ["vault_data_keys.tenant_id", "vault_data_keys.id"],
            name=op.f("fk_vault_cards_tenant_id_data_key_id_vault_data_keys"),
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_vault_cards_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_vault_cards")),
    )
    with op.batch_alter_table("vault_cards", schema=None) as batch_op:
        batch_op.create_index(
            "ix_vault_cards_tenant_id_fingerprint", ["tenant_id", "fingerprint"], unique=False
        )

    for table in TENANT_TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in TENANT_TABLES:
        disable_tenant_rls(table)
    with op.batch_alter_table("vault_cards", schema=None) as batch_op:
        batch_op.drop_index("ix_vault_cards_tenant_id_fingerprint")
    op.drop_table("vault_cards")
    op.drop_table("vault_data_keys")
