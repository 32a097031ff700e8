"""keyed audit heads, data key generations, card number retention

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

import core.db
from core.rls import disable_tenant_rls, enable_tenant_rls

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_ACTIVE = sa.text("retired_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "audit_heads",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_audit_heads_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_audit_heads")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_audit_heads_tenant_id")),
    )
    enable_tenant_rls("audit_heads")
    # Several generations of a data key per purpose; one of them (not retired) seals.
    with op.batch_alter_table("vault_data_keys") as batch_op:
        batch_op.add_column(sa.Column("retired_at", core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.drop_constraint("uq_vault_data_keys_tenant_id_purpose", type_="unique")
    op.create_index(
        "uq_vault_data_keys_active",
        "vault_data_keys",
        ["tenant_id", "purpose"],
        unique=True,
        postgresql_where=_ACTIVE,
        sqlite_where=_ACTIVE,
    )
    # A purged card keeps brand, last four, expiry and fingerprint; its ciphertext and key reference go.
    with op.batch_alter_table("vault_cards") as batch_op:
        batch_op.alter_column("pan_encrypted", existing_type=sa.LargeBinary(), nullable=True)
        batch_op.alter_column("data_key_id", existing_type=sa.String(length=40), nullable=True)
        batch_op.add_column(sa.Column("purged_at", core.db.UTCDateTime(timezone=True), nullable=True))
    _unpurged = sa.text("pan_encrypted IS NOT NULL")
    op.create_index("ix_vault_cards_data_key", "vault_cards", ["tenant_id", "data_key_id"])
    op.create_index(
        "ix_vault_cards_unpurged",
        "vault_cards",
        ["tenant_id", "created_at"],
        postgresql_where=_unpurged,
        sqlite_where=_unpurged,
    )
    op.create_index("ix_payments_card_token", "payments", ["tenant_id", "card_token_id"])


def downgrade() -> None:
    op.drop_index("ix_payments_card_token", table_name="payments")
    op.drop_index("ix_vault_cards_unpurged", table_name="vault_cards")
    op.drop_index("ix_vault_cards_data_key", table_name="vault_cards")
    with op.batch_alter_table("vault_cards") as batch_op:
        batch_op.drop_column("purged_at")
        batch_op.alter_column("data_key_id", existing_type=sa.String(length=40), nullable=False)
        batch_op.alter_column("pan_encrypted", existing_type=sa.LargeBinary(), nullable=False)
    op.drop_index("uq_vault_data_keys_active", table_name="vault_data_keys")
    with op.batch_alter_table("vault_data_keys") as batch_op:
        batch_op.create_unique_constraint("uq_vault_data_keys_tenant_id_purpose", ["tenant_id", "purpose"])
        batch_op.drop_column("retired_at")
    disable_tenant_rls("audit_heads")
    op.drop_table("audit_heads")
