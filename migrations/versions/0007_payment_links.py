"""payment links, and finding the tenant of a link's slug

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

import core.db
from core.rls import disable_tenant_rls, enable_tenant_rls

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payment_links",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("slug", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_payment_links_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_payment_links")),
        sa.UniqueConstraint("slug", name=op.f("uq_payment_links_slug")),
    )
    enable_tenant_rls("payment_links")
    if op.get_bind().dialect.name != "postgresql":
        return
    # A shopper's URL carries only the slug: answer "whose link is this?" and nothing more, as the owner
    # (RLS hides the row from the application role until it knows the tenant).
    op.execute("""
        CREATE FUNCTION kassa_payment_link_tenant(p_slug text)
        RETURNS varchar
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT tenant_id FROM payment_links WHERE slug = p_slug
        $$""")
    op.execute("REVOKE ALL ON FUNCTION kassa_payment_link_tenant(text) FROM PUBLIC")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS kassa_payment_link_tenant(text)")
    disable_tenant_rls("payment_links")
    op.drop_table("payment_links")
