"""MFA recovery codes, password resets, the audit screen's user agent and chain verifications

`recovery_codes` and `password_resets` are global like `users` and `portal_sessions` (no tenant_id, no
RLS: they belong to a person, who may belong to several tenants). `audit_verifications` is a tenant table
with forced row-level security like the others. `audit_events.user_agent` is new and nullable: events
recorded before it keep their hashes (the digest covers it only when set).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

import core.db
from core.rls import disable_tenant_rls, enable_tenant_rls

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_recovery_codes_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_codes")),
    )
    op.create_index(op.f("ix_recovery_codes_user_id"), "recovery_codes", ["user_id"], unique=False)
    op.create_table(
        "password_resets",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_password_resets_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_resets")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_password_resets_token_hash")),
    )
    op.create_index(op.f("ix_password_resets_user_id"), "password_resets", ["user_id"], unique=False)
    with op.batch_alter_table("audit_events") as batch_op:
        batch_op.add_column(sa.Column("user_agent", sa.String(length=300), nullable=True))
    op.create_table(
        "audit_verifications",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("verified_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "actor_type",
            sa.Enum("user", "api_key", "system", "shopper", name="actortype", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("problems", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_audit_verifications_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_audit_verifications")),
    )
    enable_tenant_rls("audit_verifications")


def downgrade() -> None:
    disable_tenant_rls("audit_verifications")
    op.drop_table("audit_verifications")
    with op.batch_alter_table("audit_events") as batch_op:
        batch_op.drop_column("user_agent")
    op.drop_index(op.f("ix_password_resets_user_id"), table_name="password_resets")
    op.drop_table("password_resets")
    op.drop_index(op.f("ix_recovery_codes_user_id"), table_name="recovery_codes")
    op.drop_table("recovery_codes")
