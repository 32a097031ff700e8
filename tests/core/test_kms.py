from __future__ import annotations

import os

import pytest

from core.kms import DecryptionFailed, LocalKMS


def test_round_trip_and_context_binding() -> None:
    kms = LocalKMS(os.urandom(32))
    blob = kms.encrypt(b"JBSWY3DPEHPK3PXP", context="user.totp:usr_1")
    assert b"JBSWY3DPEHPK3PXP" not in blob
    assert kms.decrypt(blob, context="user.totp:usr_1") == b"JBSWY3DPEHPK3PXP"
    with pytest.raises(DecryptionFailed):
        kms.decrypt(blob, context="user.totp:usr_2")


def test_tampering_is_detected() -> None:
    kms = LocalKMS(os.urandom(32))
    blob = bytearray(kms.encrypt(b"secret", context="c"))
    blob[-1] ^= 1
    with pytest.raises(DecryptionFailed):
        kms.decrypt(bytes(blob), context="c")


def test_a_rotated_master_key_still_opens_old_blobs() -> None:
    old, new = os.urandom(32), os.urandom(32)
    blob = LocalKMS(old).encrypt(b"data", context="c")
    assert LocalKMS(new, previous=(old,)).decrypt(blob, context="c") == b"data"
    with pytest.raises(DecryptionFailed, match="does not hold"):
        LocalKMS(new).decrypt(blob, context="c")


def test_purpose_keys_are_separate_from_each_other_and_follow_the_master_key() -> None:
    old, new = os.urandom(32), os.urandom(32)
    rotating = LocalKMS(new, previous=(old,))
    assert rotating.purpose_key("cvc") != rotating.purpose_key("audit-head")
    assert rotating.purpose_key("cvc") == LocalKMS(new).purpose_key("cvc")
    assert rotating.purpose_key("cvc", key_id=LocalKMS(old).current_key_id) == LocalKMS(old).purpose_key(
        "cvc"
    )
    with pytest.raises(DecryptionFailed, match="does not hold"):
        LocalKMS(new).purpose_key("cvc", key_id=LocalKMS(old).current_key_id)
