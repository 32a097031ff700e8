"""payouts: balance transactions, settlement terms, bank accounts, schedules, payouts, reconciliation, disputes

Revision ID: 0023
Revises: 0018
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import core.db
from core.rls import disable_tenant_rls, enable_tenant_rls

revision = "0023"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "balance_transactions",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column(
            "type",
            sa.Enum(
                "charge",
                "refund",
                "dispute",
                "dispute_reversal",
                "payout",
                "payout_failure",
                "reserve_hold",
                "reserve_release",
                "payout_carry",
                name="txntype",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("net", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "available", name="txnstatus", native_enum=False, length=12),
            nullable=False,
        ),
        sa.Column("available_on", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "held_in",
            sa.Enum(
                "processor_receivable",
                "merchant_pending",
                "merchant_available",
                "merchant_reserved",
                "fees",
                "refunds",
                "payouts_in_transit",
                name="account",
                native_enum=False,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("payout_id", sa.String(length=40), nullable=True),
        sa.Column("journal_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.CheckConstraint("fee >= 0", name=op.f("ck_balance_transactions_fee_nonnegative")),
        sa.CheckConstraint("net = amount - fee", name=op.f("ck_balance_transactions_net_is_amount_less_fee")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_balance_transactions_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_balance_transactions")),
    )
    op.create_index(
        "ix_balance_transactions_due",
        "balance_transactions",
        ["tenant_id", "status", "available_on"],
        unique=False,
    )
    op.create_index(
        "ix_balance_transactions_source", "balance_transactions", ["tenant_id", "source_id"], unique=False
    )
    op.create_index(
        "ix_balance_transactions_tenant_id_payout_id",
        "balance_transactions",
        ["tenant_id", "payout_id"],
        unique=False,
    )
    op.create_index(
        "ix_balance_transactions_unpaid",
        "balance_transactions",
        ["tenant_id", "currency", "status", "payout_id"],
        unique=False,
    )
    op.create_table(
        "bank_accounts",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("account_holder", sa.String(length=140), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("number_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("last4", sa.String(length=4), nullable=False),
        sa.Column("bank_name", sa.String(length=140), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "pending_approval",
                "active",
                "inactive",
                name="bankaccountstatus",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("requested_by", sa.String(length=40), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("activated_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_bank_accounts_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_bank_accounts")),
    )
    op.create_index(
        "ix_bank_accounts_tenant_id_currency_status",
        "bank_accounts",
        ["tenant_id", "currency", "status"],
        unique=False,
    )
    op.create_table(
        "ledger_settlement_terms",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("delay_days", sa.Integer(), nullable=False),
        sa.Column("reserve_bps", sa.Integer(), nullable=False),
        sa.Column("reserve_days", sa.Integer(), nullable=False),
        sa.Column("reserve_reason", sa.String(length=200), nullable=True),
        sa.Column("reserve_source", sa.String(length=20), nullable=True),
        sa.Column("updated_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "delay_days >= 0 AND delay_days <= 30", name=op.f("ck_ledger_settlement_terms_delay_days_range")
        ),
        sa.CheckConstraint(
            "reserve_bps >= 0 AND reserve_bps <= 10000",
            name=op.f("ck_ledger_settlement_terms_reserve_bps_range"),
        ),
        sa.CheckConstraint(
            "reserve_days >= 0 AND reserve_days <= 365",
            name=op.f("ck_ledger_settlement_terms_reserve_days_range"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_ledger_settlement_terms_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_ledger_settlement_terms")),
    )
    op.create_table(
        "payout_schedules",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=3), nullable=False),
        sa.Column(
            "interval",
            sa.Enum("daily", "weekly", "monthly", "manual", name="interval", native_enum=False, length=10),
            nullable=False,
        ),
        sa.Column("weekly_anchor", sa.Integer(), nullable=True),
        sa.Column("monthly_anchor", sa.Integer(), nullable=True),
        sa.Column("minimum_amount", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("minimum_amount >= 0", name=op.f("ck_payout_schedules_minimum_nonnegative")),
        sa.CheckConstraint(
            "monthly_anchor IS NULL OR (monthly_anchor >= 1 AND monthly_anchor <= 31)",
            name=op.f("ck_payout_schedules_day"),
        ),
        sa.CheckConstraint(
            "weekly_anchor IS NULL OR (weekly_anchor >= 0 AND weekly_anchor <= 6)",
            name=op.f("ck_payout_schedules_weekday"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_payout_schedules_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_payout_schedules")),
    )
    op.create_table(
        "reconciliation_runs",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("file_date", sa.Date(), nullable=False),
        sa.Column("file_digest", sa.String(length=64), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("matched", sa.Integer(), nullable=False),
        sa.Column("differences", sa.Integer(), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_reconciliation_runs_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_reconciliation_runs")),
        sa.UniqueConstraint(
            "tenant_id",
            "file_date",
            "file_digest",
            name=op.f("uq_reconciliation_runs_tenant_id_file_date_file_digest"),
        ),
    )
    op.create_table(
        "payouts",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "created", "in_transit", "paid", "failed", name="payoutstatus", native_enum=False, length=12
            ),
            nullable=False,
        ),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("run_key", sa.String(length=64), nullable=False),
        sa.Column("bank_account_id", sa.String(length=40), nullable=False),
        sa.Column("arrival_date", sa.Date(), nullable=False),
        sa.Column("failure_code", sa.String(length=40), nullable=True),
        sa.Column("failure_message", sa.String(length=200), nullable=True),
        sa.Column("created_by", sa.String(length=40), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("in_transit_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("paid_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failed_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payouts_amount_positive")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "bank_account_id"],
            ["bank_accounts.tenant_id", "bank_accounts.id"],
            name=op.f("fk_payouts_tenant_id_bank_account_id_bank_accounts"),
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_payouts_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_payouts")),
        sa.UniqueConstraint("tenant_id", "run_key", name=op.f("uq_payouts_tenant_id_run_key")),
    )
    op.create_index("ix_payouts_tenant_id_status", "payouts", ["tenant_id", "status"], unique=False)
    op.create_table(
        "reconciliation_differences",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("reference_id", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("file_amount", sa.BigInteger(), nullable=True),
        sa.Column("ledger_amount", sa.BigInteger(), nullable=True),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "run_id"],
            ["reconciliation_runs.tenant_id", "reconciliation_runs.id"],
            name=op.f("fk_reconciliation_differences_tenant_id_run_id_reconciliation_runs"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_reconciliation_differences_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_reconciliation_differences")),
    )
    op.create_index(
        "ix_reconciliation_differences_run",
        "reconciliation_differences",
        ["tenant_id", "run_id"],
        unique=False,
    )
    op.create_table(
        "disputes",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("payment_id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "needs_response",
                "under_review",
                "won",
                "lost",
                name="disputestatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("is_inquiry", sa.Boolean(), nullable=False),
        sa.Column("evidence_due_by", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "evidence",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("evidence_submitted_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "payment_id"],
            ["payments.tenant_id", "payments.id"],
            name=op.f("fk_disputes_tenant_id_payment_id_payments"),
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_disputes_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_disputes")),
    )
    op.create_index("ix_disputes_tenant_id_payment_id", "disputes", ["tenant_id", "payment_id"], unique=True)
    op.create_index("ix_disputes_tenant_id_status", "disputes", ["tenant_id", "status"], unique=False)
    op.create_table(
        "dispute_evidence_files",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("dispute_id", sa.String(length=40), nullable=False),
        sa.Column("filename", sa.String(length=120), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "dispute_id"],
            ["disputes.tenant_id", "disputes.id"],
            name=op.f("fk_dispute_evidence_files_tenant_id_dispute_id_disputes"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_dispute_evidence_files_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_dispute_evidence_files")),
    )
    op.create_index(
        "ix_dispute_evidence_files_dispute",
        "dispute_evidence_files",
        ["tenant_id", "dispute_id"],
        unique=False,
    )
    enable_tenant_rls("balance_transactions")
    enable_tenant_rls("bank_accounts")
    enable_tenant_rls("ledger_settlement_terms")
    enable_tenant_rls("payout_schedules")
    enable_tenant_rls("reconciliation_runs")
    enable_tenant_rls("payouts")
    enable_tenant_rls("reconciliation_differences")
    enable_tenant_rls("disputes")
    enable_tenant_rls("dispute_evidence_files")


def downgrade() -> None:
    disable_tenant_rls("dispute_evidence_files")
    op.drop_table("dispute_evidence_files")
    disable_tenant_rls("disputes")
    op.drop_table("disputes")
    disable_tenant_rls("reconciliation_differences")
    op.drop_table("reconciliation_differences")
    disable_tenant_rls("payouts")
    op.drop_table("payouts")
    disable_tenant_rls("reconciliation_runs")
    op.drop_table("reconciliation_runs")
    disable_tenant_rls("payout_schedules")
    op.drop_table("payout_schedules")
    disable_tenant_rls("ledger_settlement_terms")
    op.drop_table("ledger_settlement_terms")
    disable_tenant_rls("bank_accounts")
    op.drop_table("bank_accounts")
    disable_tenant_rls("balance_transactions")
    op.drop_table("balance_transactions")
