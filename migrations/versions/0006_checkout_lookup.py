"""checkout: find the tenant of a checkout session (the shopper's only key)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # The hosted page knows only the session id from its URL: answer "whose session is this?" and
    # nothing more, as the owner (RLS would hide the row from the application role until it knows).
    op.execute("""
        CREATE FUNCTION kassa_checkout_session_tenant(p_session_id text)
        RETURNS varchar
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT tenant_id FROM checkout_sessions WHERE id = p_session_id
        $$""")
    op.execute("REVOKE ALL ON FUNCTION kassa_checkout_session_tenant(text) FROM PUBLIC")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS kassa_checkout_session_tenant(text)")
