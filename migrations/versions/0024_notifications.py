"""notifications: the notification center (notifications, their recipients, members' preferences)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import core.db
from core.rls import disable_tenant_rls, enable_tenant_rls

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
KINDS = (
    "payout_failed",
    "webhook_endpoint_failing",
    "dispute_created",
    "approval_rate_low",
    "risk_blocks_spike",
    "processor_errors_spike",
)


def _kind() -> sa.Enum:
    return sa.Enum(*KINDS, name="kind", native_enum=False, length=40)


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", _kind(), nullable=False),
        sa.Column(
            "severity",
            sa.Enum("info", "warning", "critical", name="severity", native_enum=False, length=10),
            nullable=False,
        ),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.String(length=1000), nullable=False),
        sa.Column("link", sa.String(length=300), nullable=True),
        sa.Column("subject_type", sa.String(length=30), nullable=True),
        sa.Column("subject_id", sa.String(length=40), nullable=True),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("dedup_key", sa.String(length=200), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_notifications_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("tenant_id", "dedup_key", name=op.f("uq_notifications_tenant_id_dedup_key")),
    )
    op.create_index(
        "ix_notifications_kind_created", "notifications", ["tenant_id", "kind", "livemode", "created_at"]
    )
    op.create_table(
        "notification_recipients",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("notification_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("portal", sa.Boolean(), nullable=False),
        sa.Column("read_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "email_status",
            sa.Enum("off", "queued", "sent", "failed", name="emailstatus", native_enum=False, length=10),
            nullable=False,
        ),
        sa.Column("email_attempts", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=100), nullable=False),
        sa.Column("emailed_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "notification_id"],
            ["notifications.tenant_id", "notifications.id"],
            name=op.f("fk_notification_recipients_tenant_id_notification_id_notifications"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_notification_recipients_tenant_id_tenants")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notification_recipients_user_id_users")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_notification_recipients")),
        sa.UniqueConstraint(
            "tenant_id",
            "notification_id",
            "user_id",
            name=op.f("uq_notification_recipients_tenant_id_notification_id_user_id"),
        ),
    )
    op.create_index(
        "ix_notification_recipients_inbox", "notification_recipients", ["tenant_id", "user_id", "read_at"]
    )
    op.create_table(
        "notification_preferences",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("kind", _kind(), nullable=False),
        sa.Column("portal", sa.Boolean(), nullable=False),
        sa.Column("email", sa.Boolean(), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_notification_preferences_tenant_id_tenants")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notification_preferences_user_id_users")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_notification_preferences")),
        sa.UniqueConstraint(
            "tenant_id", "user_id", "kind", name=op.f("uq_notification_preferences_tenant_id_user_id_kind")
        ),
    )
    for name in ("notifications", "notification_recipients", "notification_preferences"):
        enable_tenant_rls(name)


def downgrade() -> None:
    for name in ("notification_preferences", "notification_recipients", "notifications"):
        disable_tenant_rls(name)
    op.drop_table("notification_preferences")
    op.drop_index("ix_notification_recipients_inbox", table_name="notification_recipients")
    op.drop_table("notification_recipients")
    op.drop_index("ix_notifications_kind_created", table_name="notifications")
    op.drop_table("notifications")
