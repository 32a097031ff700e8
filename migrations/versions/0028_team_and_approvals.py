"""Team and four-eyes approvals: custom roles, invitations, approval policies and requests.

- `custom_roles`: a tenant's own roles, each a set of permission names (tenants/permissions.py);
  `memberships.custom_role_id` points at one (null: the built-in `role` applies).
- `invitations`: an emailed, single-use, expiring invitation; only the SHA-256 of its token is kept for
  the lookup, plus the token sealed under the KMS until the mail job has sent it. `kassa_invitation_tenant`
  answers the one cross-tenant question (which tenant holds the invitation with this hash).
- `approval_policies`: per tenant and kind of action, what needs a second person (thresholds per currency).
- `approval_requests`: the pending (and decided) requests, with exactly what was asked.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import core.db
from core.rls import disable_tenant_rls, enable_tenant_rls

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TABLES = ("custom_roles", "invitations", "approval_policies", "approval_requests")


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, core.db.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "custom_roles",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("permissions", JSON, nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_custom_roles_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_custom_roles")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_custom_roles_tenant_id_name")),
    )
    with op.batch_alter_table("memberships") as batch_op:
        batch_op.add_column(sa.Column("custom_role_id", sa.String(length=40), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_memberships_tenant_id_custom_roles"),
            "custom_roles",
            ["tenant_id", "custom_role_id"],
            ["tenant_id", "id"],
        )
    op.create_table(
        "invitations",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("custom_role_id", sa.String(length=40), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("invited_by", sa.String(length=40), nullable=False),
        _ts("created_at"),
        _ts("expires_at"),
        _ts("accepted_at", True),
        sa.Column("accepted_by", sa.String(length=40), nullable=True),
        _ts("revoked_at", True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_invitations_tenant_id_tenants")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "custom_role_id"],
            ["custom_roles.tenant_id", "custom_roles.id"],
            name=op.f("fk_invitations_tenant_id_custom_roles"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitations_token_hash")),
    )
    op.create_table(
        "approval_policies",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("settings", JSON, nullable=False),
        _ts("updated_at"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_approval_policies_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_approval_policies")),
        sa.UniqueConstraint("tenant_id", "kind", name=op.f("uq_approval_policies_tenant_id_kind")),
    )
    op.create_table(
        "approval_requests",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("params", JSON, nullable=False),
        sa.Column("summary", sa.String(length=300), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("requested_by_type", sa.String(length=20), nullable=False),
        sa.Column("requested_by", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        _ts("created_at"),
        _ts("expires_at"),
        sa.Column("decided_by", sa.String(length=40), nullable=True),
        _ts("decided_at", True),
        sa.Column("decision_note", sa.String(length=500), nullable=True),
        sa.Column("result", JSON, nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_approval_requests_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_approval_requests")),
    )
    op.create_index(
        "ix_approval_requests_status", "approval_requests", ["tenant_id", "status"]
    )
    for table in TABLES:
        enable_tenant_rls(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION kassa_invitation_tenant(p_hash text) RETURNS varchar
            LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
                SELECT tenant_id FROM invitations WHERE token_hash = p_hash
            $$""")
        op.execute("REVOKE ALL ON FUNCTION kassa_invitation_tenant(text) FROM PUBLIC")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS kassa_invitation_tenant(text)")
    for table in TABLES:
        disable_tenant_rls(table)
    op.drop_index("ix_approval_requests_status", table_name="approval_requests")
    op.drop_table("approval_requests")
    op.drop_table("approval_policies")
    op.drop_table("invitations")
    with op.batch_alter_table("memberships") as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_memberships_tenant_id_custom_roles"), type_="foreignkey")
        batch_op.drop_column("custom_role_id")
    op.drop_table("custom_roles")
