"""Locality rules: versions (drafts, scheduled changes, history) and per-method amount limits.

- `locality_rule_versions`: one version of a tenant's whole rule set per mode; the version in force at a
  moment is the one with the latest `effective_at` at or before it (null: a draft).
- `locality_rules.method_limits`: a method is offered only for amounts inside its limits.

Existing rules stay in `locality_rules` and apply until the tenant's first version takes effect.

Revision ID: 0030
Revises: 0028
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import core.db
from core.rls import disable_tenant_rls, enable_tenant_rls

revision = "0030"
down_revision = "0028"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "locality_rule_versions",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("rules", JSON, nullable=False),
        sa.Column("effective_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("restored_from", sa.String(length=40), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_locality_rule_versions_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_locality_rule_versions")),
        sa.UniqueConstraint(
            "tenant_id",
            "livemode",
            "number",
            name=op.f("uq_locality_rule_versions_tenant_id_livemode_number"),
        ),
    )
    op.create_index(
        "ix_locality_rule_versions_effective",
        "locality_rule_versions",
        ["tenant_id", "livemode", "effective_at"],
    )
    enable_tenant_rls("locality_rule_versions")
    with op.batch_alter_table("locality_rules") as batch_op:
        batch_op.add_column(sa.Column("method_limits", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("locality_rules") as batch_op:
        batch_op.drop_column("method_limits")
    disable_tenant_rls("locality_rule_versions")
    op.drop_index("ix_locality_rule_versions_effective", table_name="locality_rule_versions")
    op.drop_table("locality_rule_versions")
