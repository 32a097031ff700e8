"""How long card numbers and data keys live: the retention purge and data-key rotation.

**Retention.** A card number is needed until its payment no longer needs the card: authorization (and
its retries) reveal it; capture, cancel and refunds go by the processor's payment reference. Saved cards
do not exist yet, so once every payment made with a token has been in a final state
(`FINAL_STATES`) for `card_retention_days` (the refund window) with no change, `purge_expired_cards`
erases the token's ciphertext and its data key reference. Brand, last four, expiry, BIN country and the
keyed fingerprint stay: they are what the pages, the API and risk screening use. A token with no payment
is purged on the same clock, from its creation.

**Data keys.** `rotate_data_keys` gives a tenant new `card` and `audit` data keys: the old ones are
retired at once (they seal nothing more, but still open what they sealed). Cards under a retired key are
then re-encrypted under the active one in batches (`reencrypt_cards`, each batch its own transaction),
and a retired card key that no card refers to any more is destroyed (its row deleted), so nothing can be
opened with it again. A retired audit key stays: audit details are covered by the hash chain and cannot
be re-encrypted. The fingerprint key is never rotated, so fingerprints keep their value. `kassa keys
rotate --data-keys` runs the three steps with a progress bar; `kassa cron` enqueues `rotate_tenant_data_keys`
for each tenant whose card or audit key is older than `data_key_max_age_days`.

Each step can be interrupted and run again; a second run finds nothing to do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, Final

from sqlalchemy import String, column, delete, exists, func, select, table, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.audit import actions
from core.audit import service as audit
from core.clock import Clock
from core.context import Acting, Actor
from core.db import Database
from core.keys.service import data_key_id_of, ensure_data_key, find_data_key, seal, unseal
from core.kms import KMS
from core.vault.models import DataKey, KeyPurpose, VaultCard

# Tables of core.payments, named here rather than imported: the payments package imports the vault.
_PAYMENTS = table(
    "payments", column("tenant_id", String), column("id", String), column("card_token_id", String),
    column("status", String),
)  # fmt: skip
_HISTORY = table(
    "payment_status_history", column("tenant_id", String), column("payment_id", String),
    column("created_at"),
)  # fmt: skip
#: Payment states after which the card number is not needed for any processor call.
FINAL_STATES: Final = ("succeeded", "failed", "canceled", "partially_refunded", "refunded")
#: Data keys that `rotate_data_keys` replaces. Never `fingerprint`: fingerprints must keep their value.
ROTATED_PURPOSES: Final = (KeyPurpose.CARD, KeyPurpose.AUDIT)
_SYSTEM = Actor.system("vault")


def card_aad(tenant_id: str, token_id: str) -> bytes:
    return f"vault_cards:{tenant_id}:{token_id}".encode()


# --- retention ------------------------------------------------------------------------------------------


def purge_expired_cards(
    session: Session, *, tenant_id: str, retention: timedelta, kms: KMS, clock: Clock, batch: int = 500
) -> int:
    """Erase the card number of up to `batch` tokens past retention; return how many. Audited."""
    cutoff = clock.now() - retention
    payment = _PAYMENTS.alias("p")
    recent_change = exists().where(
        _HISTORY.c.tenant_id == tenant_id,
        _HISTORY.c.payment_id == payment.c.id,
        _HISTORY.c.created_at >= cutoff,
    )
    # A payment that may still need the number: not final yet, or final for less than the window.
    still_needed = exists().where(
        payment.c.tenant_id == tenant_id,
        payment.c.card_token_id == VaultCard.id,
        (payment.c.status.not_in(FINAL_STATES)) | recent_change,
    )
    token_ids = list(
        session.scalars(
            select(VaultCard.id)
            .where(
                VaultCard.tenant_id == tenant_id,
                VaultCard.pan_encrypted.is_not(None),
                VaultCard.created_at < cutoff,
                ~still_needed,
            )
            .order_by(VaultCard.id)
            .limit(batch)
        )
    )
    if not token_ids:
        return 0
    session.execute(
        update(VaultCard)
        .where(VaultCard.tenant_id == tenant_id, VaultCard.id.in_(token_ids))
        .values(pan_encrypted=None, data_key_id=None, purged_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    audit.record(
        session,
        Acting(_SYSTEM, clock, kms),
        actions.VAULT_CARDS_PURGED,
        subject=audit.Ref("tenant", tenant_id, tenant_id),
        details={"tokens": token_ids, "retention_days": retention.days},
    )
    return len(token_ids)


# --- data keys ------------------------------------------------------------------------------------------


def oldest_key_age(session: Session, *, tenant_id: str, clock: Clock) -> timedelta | None:
    """How long the oldest of the tenant's active card and audit keys has sealed; None if it has neither."""
    created = [
        key.created_at
        for purpose in ROTATED_PURPOSES
        if (key := find_data_key(session, tenant_id=tenant_id, purpose=purpose)) is not None
    ]
    return clock.now() - min(created) if created else None


def rotate_data_keys(session: Session, *, tenant_id: str, kms: KMS, clock: Clock) -> list[str]:
    """Retire the tenant's active card and audit keys and make new ones; return the new keys' ids.

    A purpose the tenant has no key for yet is left alone (its first use makes one).
    """
    now, made = clock.now(), []
    for purpose in ROTATED_PURPOSES:
        old = find_data_key(session, tenant_id=tenant_id, purpose=purpose)
        if old is None:
            continue
        old.retired_at = now
        session.flush()  # the partial unique index now lets the new key in
        new = ensure_data_key(session, tenant_id=tenant_id, purpose=purpose, kms=kms, clock=clock)
        made.append(new.id)
        audit.record(
            session,
            Acting(_SYSTEM, clock, kms),
            actions.VAULT_DATA_KEY_ROTATED,
            subject=audit.Ref("data_key", new.id, tenant_id),
            details={"purpose": str(purpose), "retired": old.id, "age_days": (now - old.created_at).days},
        )
    return made


def _under_retired_key(tenant_id: str) -> Any:
    retired = select(DataKey.id).where(
        DataKey.tenant_id == tenant_id, DataKey.purpose == KeyPurpose.CARD, DataKey.retired_at.is_not(None)
    )
    return (
        VaultCard.tenant_id == tenant_id,
        VaultCard.pan_encrypted.is_not(None),
        VaultCard.data_key_id.in_(retired),
    )


def cards_to_reencrypt(db: Database, *, tenant_ids: Iterable[str]) -> int:
    """How many cards are still sealed under a retired key (the progress bar's length)."""
    total = 0
    for tenant_id in tenant_ids:
        with db.unit_of_work(tenant_id=tenant_id) as uow:
            count = select(func.count()).select_from(VaultCard).where(*_under_retired_key(tenant_id))
            total += int(uow.session.scalar(count) or 0)
    return total


def reencrypt_cards(
    db: Database,
    *,
    tenant_id: str,
    kms: KMS,
    clock: Clock,
    batch: int = 200,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Seal every card under a retired key again under the active key, `batch` per transaction."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    done = 0
    while True:
        with db.unit_of_work(tenant_id=tenant_id) as uow:
            session = uow.session
            # FOR UPDATE: a purge running meanwhile waits for this batch, and this batch for it.
            cards = list(
                session.scalars(
                    select(VaultCard)
                    .where(*_under_retired_key(tenant_id))
                    .order_by(VaultCard.id)
                    .limit(batch)
                    .with_for_update()
                )
            )
            for card in cards:
                _reseal(session, card, kms=kms, clock=clock)
        if not cards:
            return done
        done += len(cards)
        if progress is not None:
            progress(len(cards))


def _reseal(session: Session, card: VaultCard, *, kms: KMS, clock: Clock) -> None:
    assert card.pan_encrypted is not None  # selected so
    aad = card_aad(card.tenant_id, card.id)
    clear = unseal(
        session, tenant_id=card.tenant_id, purpose=KeyPurpose.CARD, blob=card.pan_encrypted, kms=kms, aad=aad
    )
    sealed = seal(
        session,
        tenant_id=card.tenant_id,
        purpose=KeyPurpose.CARD,
        plaintext=clear,
        kms=kms,
        aad=aad,
        clock=clock,
    )
    card.pan_encrypted, card.data_key_id = sealed, data_key_id_of(sealed)
    del clear


def destroy_retired_card_keys(db: Database, *, tenant_id: str, kms: KMS, clock: Clock) -> list[str]:
    """Delete the tenant's retired card keys that no card refers to any more; return their ids.

    A key a card still refers to (one tokenized by a transaction that began before the rotation) stays,
    and the next run re-encrypts that card first.
    """
    destroyed = []
    with db.unit_of_work(tenant_id=tenant_id) as uow:
        session = uow.session
        retired = list(
            session.scalars(
                select(DataKey.id).where(
                    DataKey.tenant_id == tenant_id,
                    DataKey.purpose == KeyPurpose.CARD,
                    DataKey.retired_at.is_not(None),
                )
            )
        )
    for key_id in retired:
        try:
            with db.unit_of_work(tenant_id=tenant_id) as uow:
                referenced = exists().where(VaultCard.tenant_id == tenant_id, VaultCard.data_key_id == key_id)
                result = uow.session.execute(
                    delete(DataKey)
                    .where(DataKey.tenant_id == tenant_id, DataKey.id == key_id, ~referenced)
                    .execution_options(synchronize_session=False)
                )
                if result.rowcount:  # type: ignore[attr-defined]
                    audit.record(
                        uow.session,
                        Acting(_SYSTEM, clock, kms),
                        actions.VAULT_DATA_KEY_DESTROYED,
                        subject=audit.Ref("data_key", key_id, tenant_id),
                    )
                    destroyed.append(key_id)
        except IntegrityError:
            continue  # a card under it committed meanwhile: kept for the next run
    return destroyed


def finish_rotation(
    db: Database,
    *,
    tenant_id: str,
    kms: KMS,
    clock: Clock,
    batch: int = 200,
    progress: Callable[[int], None] | None = None,
) -> tuple[int, int]:
    """Re-encrypt the tenant's cards under retired keys, then destroy the keys left unused:
    (cards re-encrypted, keys destroyed)."""
    cards = reencrypt_cards(db, tenant_id=tenant_id, kms=kms, clock=clock, batch=batch, progress=progress)
    return cards, len(destroy_retired_card_keys(db, tenant_id=tenant_id, kms=kms, clock=clock))


def _is_due(session: Session, *, tenant_id: str, max_age: timedelta | None, clock: Clock) -> bool:
    age = oldest_key_age(session, tenant_id=tenant_id, clock=clock)
    return age is not None and (max_age is None or age >= max_age)


def start_rotation(
    db: Database, *, tenant_id: str, kms: KMS, clock: Clock, max_age: timedelta | None = None
) -> bool:
    """Rotate the tenant's card and audit keys if the older of them has sealed for `max_age` (None:
    whatever their age); True if it did."""
    with db.unit_of_work(tenant_id=tenant_id) as uow:
        if not _is_due(uow.session, tenant_id=tenant_id, max_age=max_age, clock=clock):
            return False
        rotate_data_keys(uow.session, tenant_id=tenant_id, kms=kms, clock=clock)
        return True
