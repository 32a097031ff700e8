"""locality rules per tenant and country; a payment's surcharge and 3DS requirement

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import core.db
from core.rls import disable_tenant_rls, enable_tenant_rls

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "locality_rules",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("methods", JSON, nullable=True),
        sa.Column("amount_limits", JSON, nullable=True),
        sa.Column("required_fields", JSON, nullable=True),
        sa.Column("surcharge_bps", sa.Integer(), nullable=True),
        sa.Column("three_ds", sa.String(length=10), nullable=True),
        sa.Column("default_language", sa.String(length=8), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_locality_rules_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_locality_rules")),
        sa.UniqueConstraint("tenant_id", "country", name=op.f("uq_locality_rules_tenant_id_country")),
    )
    enable_tenant_rls("locality_rules")
    with op.batch_alter_table("payments") as batch_op:
        batch_op.add_column(sa.Column("surcharge", sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("three_ds_required", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("payments") as batch_op:
        batch_op.drop_column("three_ds_required")
        batch_op.drop_column("surcharge")
    disable_tenant_rls("locality_rules")
    op.drop_table("locality_rules")
