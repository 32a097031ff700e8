"""test and live are separate worlds; API keys can be rolled and revoked

Locality rules, tenant logos and idempotency records get a `livemode` column (part of their unique key),
tenants get a second checkout-settings document for live mode, and API keys an `expires_at` (the end of
a roll's overlap). `kassa_key_owner` now also answers for revoked and expired keys, with `revoked_at`
and `expires_at`, so that a use of such a key can be refused *and* audited in its tenant's chain.

Existing rows: every locality rule, logo and idempotency record becomes test-mode, and the existing
checkout settings become the test-mode settings; live mode starts from the defaults. Until now Kassa
issued only test keys (`kassa tenants create` prints a test pair), so whatever exists was configured
with a test key: it is test-mode configuration, and carrying it into live mode is exactly the leak
this migration closes.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import core.db

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

_KEY_OWNER_V1 = """
    CREATE FUNCTION kassa_key_owner(p_hash text)
    RETURNS TABLE (tenant_id varchar, key_id varchar, kind varchar, mode varchar)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        SELECT tenant_id, id, kind, mode FROM api_keys
        WHERE key_hash = p_hash AND revoked_at IS NULL
    $$"""

# Revoked and expired keys are answered too: the caller refuses them with 401 and records the attempt in
# the key's tenant's audit chain, which it could not find otherwise.
_KEY_OWNER_V2 = """
    CREATE FUNCTION kassa_key_owner(p_hash text)
    RETURNS TABLE (
        tenant_id varchar, key_id varchar, kind varchar, mode varchar,
        revoked_at timestamptz, expires_at timestamptz
    )
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        SELECT tenant_id, id, kind, mode, revoked_at, expires_at FROM api_keys WHERE key_hash = p_hash
    $$"""


def _livemode() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("livemode", sa.Boolean(), nullable=False, server_default=sa.false())


def upgrade() -> None:
    with op.batch_alter_table("locality_rules") as batch_op:
        batch_op.add_column(_livemode())
        batch_op.drop_constraint("uq_locality_rules_tenant_id_country", type_="unique")
        batch_op.create_unique_constraint(
            "uq_locality_rules_tenant_id_livemode_country", ["tenant_id", "livemode", "country"]
        )
    with op.batch_alter_table("tenant_logos") as batch_op:
        batch_op.add_column(_livemode())
        batch_op.drop_constraint("uq_tenant_logos_tenant_id", type_="unique")
        batch_op.create_unique_constraint("uq_tenant_logos_tenant_id_livemode", ["tenant_id", "livemode"])
    with op.batch_alter_table("idempotency_keys") as batch_op:
        batch_op.add_column(_livemode())
        batch_op.drop_constraint("pk_idempotency_keys", type_="primary")
        batch_op.create_primary_key("pk_idempotency_keys", ["tenant_id", "livemode", "id"])
    with op.batch_alter_table("tenants") as batch_op:
        batch_op.add_column(
            sa.Column("live_checkout_settings", JSON, nullable=False, server_default=sa.text("'{}'"))
        )
    with op.batch_alter_table("api_keys") as batch_op:
        batch_op.add_column(sa.Column("expires_at", core.db.UTCDateTime(timezone=True), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION kassa_key_owner(text)")
        op.execute(_KEY_OWNER_V2)
        op.execute("REVOKE ALL ON FUNCTION kassa_key_owner(text) FROM PUBLIC")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION kassa_key_owner(text)")
        op.execute(_KEY_OWNER_V1)
        op.execute("REVOKE ALL ON FUNCTION kassa_key_owner(text) FROM PUBLIC")
    with op.batch_alter_table("api_keys") as batch_op:
        batch_op.drop_column("expires_at")
    with op.batch_alter_table("tenants") as batch_op:
        batch_op.drop_column("live_checkout_settings")
    # Live-mode rows have no place in the old schema.
    for table in ("idempotency_keys", "tenant_logos", "locality_rules"):
        op.execute(sa.text(f"DELETE FROM {table} WHERE livemode"))
    with op.batch_alter_table("idempotency_keys") as batch_op:
        batch_op.drop_constraint("pk_idempotency_keys", type_="primary")
        batch_op.create_primary_key("pk_idempotency_keys", ["tenant_id", "id"])
        batch_op.drop_column("livemode")
    with op.batch_alter_table("tenant_logos") as batch_op:
        batch_op.drop_constraint("uq_tenant_logos_tenant_id_livemode", type_="unique")
        batch_op.create_unique_constraint("uq_tenant_logos_tenant_id", ["tenant_id"])
        batch_op.drop_column("livemode")
    with op.batch_alter_table("locality_rules") as batch_op:
        batch_op.drop_constraint("uq_locality_rules_tenant_id_livemode_country", type_="unique")
        batch_op.create_unique_constraint("uq_locality_rules_tenant_id_country", ["tenant_id", "country"])
        batch_op.drop_column("livemode")
