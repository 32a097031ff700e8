"""Master-key rotation (`kassa keys rotate`): re-wrap, never re-encrypt.

The operator sets `KASSA_MASTER_KEY` to a new key and `KASSA_PREVIOUS_MASTER_KEYS` to the old one(s), so
every process can open blobs of either generation while new ones are sealed under the new key. Rotation
then rewrites what the master key seals directly:

* every tenant's data keys (`vault_data_keys.wrapped_key`): decrypted with the old master key and sealed
  again under the current one. The card ciphertexts they protect stay byte for byte as they were;
* every portal user's TOTP seed (`users.totp_secret_encrypted`), sealed by the KMS with no data key;
* every tenant's signed audit head (`audit_heads.mac`), an HMAC under the master key's `audit-head`
  purpose key: checked under the key that signed it, then signed again under the current one. A head that
  does not verify is left as it is (re-signing it would launder a tampered chain) and named at the end.

Each batch is its own transaction, so a rotation can be interrupted and run again; a second run finds
nothing to do. Readers keep working throughout, because they hold both keys.

Audit details recorded before the audit trail used vault data keys are sealed directly by the master key
and are part of the hash chain, so they cannot be re-encrypted; `rotation_plan` counts them, and while any
remain the previous key must stay configured to read them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import LargeBinary, Select, String, column, func, select, table, update
from sqlalchemy.orm import Session

from core.audit import service as audit
from core.audit.models import AuditEvent, AuditHead
from core.clock import Clock, system_clock
from core.db import Database
from core.keys.service import kms_key_id, wrap_context
from core.kms import DecryptionFailed, LocalKMS, key_id_of_blob
from core.vault.models import DataKey

# Global tables of the tenants package, named here rather than imported: core never imports tenants/.
_USERS = table("users", column("id", String), column("totp_secret_encrypted", LargeBinary))
_KMS_BLOB_VERSION = b"\x01"


class RotationFailed(Exception):
    """Something is sealed under a master key this process does not hold; the message says what to do."""


@dataclass(frozen=True)
class RotationPlan:
    #: Data keys wrapped under a previous master key.
    data_keys: int
    #: TOTP seeds sealed under a previous master key.
    totp_secrets: int
    #: Audit events whose details a previous master key sealed directly (not re-encryptable: hash chain).
    audit_details: int
    #: Signed audit heads whose MAC a previous master key's purpose key made.
    audit_heads: int = 0

    @property
    def total(self) -> int:
        """What `rotate_master_key` will re-wrap (or re-sign)."""
        return self.data_keys + self.totp_secrets + self.audit_heads


def _totp_context(user_id: str) -> str:
    # Must match tenants/service.py, which seals the seeds.
    return f"user.totp:{user_id}"


def _stale(blob: bytes, current: bytes) -> bool:
    try:
        return key_id_of_blob(blob) != current
    except DecryptionFailed:
        return False  # not a KMS blob (say a vault-sealed one): not the master key's to re-wrap


def rotation_plan(db: Database, *, kms: LocalKMS) -> RotationPlan:
    """Count what is still sealed under a previous master key (the progress bar's length)."""
    current = kms.current_key_id
    data_keys = audit_details = audit_heads = 0
    for tenant_id in db.tenant_ids():
        # One tenant per transaction: on PostgreSQL, row-level security shows the app role no other.
        with db.unit_of_work(tenant_id=tenant_id) as uow:
            data_keys += _count(
                uow.session,
                select(func.count())
                .select_from(DataKey)
                .where(DataKey.tenant_id == tenant_id, DataKey.kms_key_id != current.hex()),
            )
            details = AuditEvent.details_encrypted
            audit_details += _count(
                uow.session,
                select(func.count())
                .select_from(AuditEvent)
                .where(
                    AuditEvent.tenant_id == tenant_id,
                    details.is_not(None),
                    func.substr(details, 1, 1) == _KMS_BLOB_VERSION,
                    func.substr(details, 2, 8) != current,
                ),
            )
            audit_heads += _count(
                uow.session,
                select(func.count())
                .select_from(AuditHead)
                .where(AuditHead.tenant_id == tenant_id, AuditHead.key_id != current.hex()),
            )
    totp_secrets = 0
    with db.unit_of_work() as uow:
        blobs = uow.session.scalars(
            select(_USERS.c.totp_secret_encrypted).where(_USERS.c.totp_secret_encrypted.is_not(None))
        )
        totp_secrets = sum(1 for blob in blobs if _stale(blob, current))
    return RotationPlan(
        data_keys=data_keys, totp_secrets=totp_secrets, audit_details=audit_details, audit_heads=audit_heads
    )


def _count(session: Session, query: Select[Any]) -> int:
    return int(session.scalar(query) or 0)


def rotate_master_key(
    db: Database,
    *,
    kms: LocalKMS,
    batch: int = 200,
    progress: Callable[[int], None] | None = None,
    clock: Clock = system_clock,
) -> int:
    """Re-wrap every data key and TOTP seed, and re-sign every audit head, not under `kms`'s current key;
    return how many were re-wrapped or re-signed.

    `kms` must hold the current key and every previous one. Card ciphertexts are not touched.
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    report = progress or (lambda _n: None)
    done = 0
    for tenant_id in db.tenant_ids():
        while True:
            with db.unit_of_work(tenant_id=tenant_id) as uow:
                keys = list(
                    uow.session.scalars(
                        select(DataKey)
                        .where(DataKey.tenant_id == tenant_id, DataKey.kms_key_id != kms.current_key_id.hex())
                        .order_by(DataKey.id)
                        .limit(batch)
                    )
                )
                for data_key in keys:
                    _rewrap(data_key, kms=kms, clock=clock)
            if not keys:
                break
            done += len(keys)
            report(len(keys))
    done += _rotate_totp_secrets(db, kms=kms, batch=batch, report=report)
    done += _resign_audit_heads(db, kms=kms, report=report, clock=clock)
    return done


def _resign_audit_heads(db: Database, *, kms: LocalKMS, report: Callable[[int], None], clock: Clock) -> int:
    done, refused = 0, []
    for tenant_id in db.tenant_ids():
        with db.unit_of_work(tenant_id=tenant_id) as uow:
            # FOR UPDATE: an audited action meanwhile moves the head under the current key itself.
            head = uow.session.scalar(
                select(AuditHead).where(AuditHead.tenant_id == tenant_id).with_for_update()
            )
            if head is None or head.key_id == kms.current_key_id.hex():
                continue
            try:
                resigned = audit.resign_head(head, kms=kms, clock=clock)
            except DecryptionFailed as exc:
                raise RotationFailed(
                    f"The audit head of tenant {tenant_id} is signed under master key {head.key_id}, which "
                    "neither KASSA_MASTER_KEY nor KASSA_PREVIOUS_MASTER_KEYS holds. Add that key to "
                    "KASSA_PREVIOUS_MASTER_KEYS and run again."
                ) from exc
        if resigned:
            done += 1
            report(1)
        else:
            refused.append(tenant_id)
    if refused:
        raise RotationFailed(
            f"The signed audit head of tenant(s) {', '.join(refused)} does not verify, so it was not signed "
            "again (that would hide tampering). Everything else is rotated. Run `kassa audit verify`, "
            "investigate, and keep the previous master key until those chains are dealt with."
        )
    return done


def _rewrap(data_key: DataKey, *, kms: LocalKMS, clock: Clock) -> None:
    context = wrap_context(data_key.tenant_id, str(data_key.purpose), data_key.id)
    try:
        clear = kms.decrypt(data_key.wrapped_key, context=context)
    except DecryptionFailed as exc:
        raise RotationFailed(
            f"Data key {data_key.id} of tenant {data_key.tenant_id} is wrapped under master key "
            f"{data_key.kms_key_id}, which does not open it from KASSA_MASTER_KEY or "
            "KASSA_PREVIOUS_MASTER_KEYS. Add that key to KASSA_PREVIOUS_MASTER_KEYS and run again."
        ) from exc
    data_key.wrapped_key = kms.encrypt(clear, context=context)
    data_key.kms_key_id = kms_key_id(data_key.wrapped_key)
    data_key.rotated_at = clock.now()


def _rotate_totp_secrets(db: Database, *, kms: LocalKMS, batch: int, report: Callable[[int], None]) -> int:
    done, after = 0, ""
    while True:
        with db.unit_of_work() as uow:
            rows = uow.session.execute(
                select(_USERS.c.id, _USERS.c.totp_secret_encrypted)
                .where(_USERS.c.totp_secret_encrypted.is_not(None), _USERS.c.id > after)
                .order_by(_USERS.c.id)
                .limit(batch)
            ).all()
            changed = 0
            for user_id, blob in rows:
                if not _stale(blob, kms.current_key_id):
                    continue
                try:
                    seed = kms.decrypt(blob, context=_totp_context(user_id))
                except DecryptionFailed as exc:
                    raise RotationFailed(
                        f"The TOTP seed of user {user_id} is sealed under a master key that neither "
                        "KASSA_MASTER_KEY nor KASSA_PREVIOUS_MASTER_KEYS opens. Add that key to "
                        "KASSA_PREVIOUS_MASTER_KEYS and run again."
                    ) from exc
                # Compare-and-set: a user who re-enrolled meanwhile keeps the new seed.
                result = uow.session.execute(
                    update(_USERS)
                    .where(_USERS.c.id == user_id, _USERS.c.totp_secret_encrypted == blob)
                    .values(totp_secret_encrypted=kms.encrypt(seed, context=_totp_context(user_id)))
                )
                changed += result.rowcount  # type: ignore[attr-defined]
        if not rows:
            return done
        after = rows[-1][0]
        if changed:
            done += changed
            report(changed)
