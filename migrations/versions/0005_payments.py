"""checkout sessions, payments, refunds, events, idempotency

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import core.db
from core.rls import disable_tenant_rls, enable_tenant_rls

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLES = ("checkout_sessions", "payments", "payment_status_history", "refunds", "events", "idempotency_keys")


def upgrade() -> None:
    op.create_table(
        "checkout_sessions",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column(
            "status",
            sa.Enum("open", "complete", "expired", name="sessionstatus", native_enum=False, length=10),
            nullable=False,
        ),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("customer_email", sa.String(length=320), nullable=True),
        sa.Column("locale", sa.String(length=8), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("success_url", sa.String(length=2048), nullable=True),
        sa.Column("cancel_url", sa.String(length=2048), nullable=True),
        sa.Column(
            "payment_methods",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "capture_method",
            sa.Enum("automatic", "manual", name="capturemethod", native_enum=False, length=10),
            nullable=False,
        ),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("expires_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("payment_id", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_checkout_sessions_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_checkout_sessions")),
    )
    op.create_index(
        "ix_checkout_sessions_open", "checkout_sessions", ["tenant_id", "status", "expires_at"], unique=False
    )
    op.create_table(
        "events",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=60), nullable=False),
        sa.Column("object_type", sa.String(length=30), nullable=False),
        sa.Column("object_id", sa.String(length=40), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_events_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_events")),
        sa.UniqueConstraint(
            "tenant_id", "object_id", "sequence", name=op.f("uq_events_tenant_id_object_id_sequence")
        ),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_idempotency_keys_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_idempotency_keys")),
    )
    op.create_index(op.f("ix_idempotency_keys_expires_at"), "idempotency_keys", ["expires_at"], unique=False)
    op.create_table(
        "payments",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("checkout_session_id", sa.String(length=40), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "initiated",
                "pending",
                "requires_action",
                "authorized",
                "succeeded",
                "failed",
                "canceled",
                "partially_refunded",
                "refunded",
                name="paymentstatus",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("amount_captured", sa.BigInteger(), nullable=False),
        sa.Column("amount_refunded", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "method",
            sa.Enum("card", "wallet", "bank", name="paymentmethod", native_enum=False, length=10),
            nullable=False,
        ),
        sa.Column(
            "capture_method",
            sa.Enum("automatic", "manual", name="capturemethod", native_enum=False, length=10),
            nullable=False,
        ),
        sa.Column("card_token_id", sa.String(length=40), nullable=True),
        sa.Column("card_brand", sa.String(length=20), nullable=True),
        sa.Column("card_last4", sa.String(length=4), nullable=True),
        sa.Column("card_exp_month", sa.Integer(), nullable=True),
        sa.Column("card_exp_year", sa.Integer(), nullable=True),
        sa.Column("card_country", sa.String(length=2), nullable=True),
        sa.Column("card_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("bank", sa.String(length=64), nullable=True),
        sa.Column("failure_code", sa.String(length=64), nullable=True),
        sa.Column("failure_message", sa.String(length=500), nullable=True),
        sa.Column("risk_decision", sa.String(length=10), nullable=True),
        sa.Column(
            "risk_reasons",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "action_type",
            sa.Enum(
                "three_ds",
                "wallet_approval",
                "bank_approval",
                name="actiontype",
                native_enum=False,
                length=20,
            ),
            nullable=True,
        ),
        sa.Column("action_result", sa.String(length=10), nullable=True),
        sa.Column("processor", sa.String(length=20), nullable=True),
        sa.Column("processor_reference", sa.String(length=64), nullable=True),
        sa.Column("processor_attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("customer_email", sa.String(length=320), nullable=True),
        sa.Column("client_ip", sa.String(length=45), nullable=True),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "card_token_id"],
            ["vault_cards.tenant_id", "vault_cards.id"],
            name=op.f("fk_payments_tenant_id_card_token_id_vault_cards"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "checkout_session_id"],
            ["checkout_sessions.tenant_id", "checkout_sessions.id"],
            name=op.f("fk_payments_tenant_id_checkout_session_id_checkout_sessions"),
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_payments_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_payments")),
    )
    op.create_index("ix_payments_session", "payments", ["tenant_id", "checkout_session_id"], unique=False)
    op.create_index("ix_payments_status", "payments", ["tenant_id", "status", "updated_at"], unique=False)
    op.create_table(
        "payment_status_history",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("payment_id", sa.String(length=40), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "initiated",
                "pending",
                "requires_action",
                "authorized",
                "succeeded",
                "failed",
                "canceled",
                "partially_refunded",
                "refunded",
                name="paymentstatus",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "payment_id"],
            ["payments.tenant_id", "payments.id"],
            name=op.f("fk_payment_status_history_tenant_id_payment_id_payments"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_payment_status_history_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_payment_status_history")),
    )
    op.create_index(
        "ix_payment_status_history_payment",
        "payment_status_history",
        ["tenant_id", "payment_id"],
        unique=False,
    )
    op.create_table(
        "refunds",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("payment_id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "status",
            sa.Enum("succeeded", "failed", name="refundstatus", native_enum=False, length=10),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("processor_reference", sa.String(length=64), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "payment_id"],
            ["payments.tenant_id", "payments.id"],
            name=op.f("fk_refunds_tenant_id_payment_id_payments"),
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_refunds_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_refunds")),
    )
    op.create_index("ix_refunds_payment", "refunds", ["tenant_id", "payment_id"], unique=False)

    for table in TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in TABLES:
        disable_tenant_rls(table)
    op.drop_index("ix_refunds_payment", table_name="refunds")
    op.drop_table("refunds")
    op.drop_index("ix_payment_status_history_payment", table_name="payment_status_history")
    op.drop_table("payment_status_history")
    op.drop_index("ix_payments_status", table_name="payments")
    op.drop_index("ix_payments_session", table_name="payments")
    op.drop_table("payments")
    op.drop_index(op.f("ix_idempotency_keys_expires_at"), table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    op.drop_table("events")
    op.drop_index("ix_checkout_sessions_open", table_name="checkout_sessions")
    op.drop_table("checkout_sessions")
