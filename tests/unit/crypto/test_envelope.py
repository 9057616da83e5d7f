"""Envelope encryption: seal, open, erase, tamper, with an in-memory fake of the KMS port."""

from __future__ import annotations

import secrets

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.crypto.envelope import (
    DataKey,
    KeyMaterialErased,
    SealedSecret,
    SealedSecretCorrupt,
    erase,
    seal,
    unseal,
)


class FakeKms:
    """Wraps data keys with a master key and refuses a context other than the one used to wrap."""

    def __init__(self) -> None:
        self._master = AESGCM(secrets.token_bytes(32))
        self.generated = 0

    def generate_data_key(self, context: dict[str, str]) -> DataKey:
        self.generated += 1
        plaintext = secrets.token_bytes(32)
        nonce = secrets.token_bytes(12)
        wrapped = nonce + self._master.encrypt(nonce, plaintext, repr(sorted(context.items())).encode())
        return DataKey(plaintext=plaintext, wrapped=wrapped, key_id="fake-key")

    def decrypt_data_key(self, wrapped: bytes, context: dict[str, str]) -> bytes:
        return self._master.decrypt(wrapped[:12], wrapped[12:], repr(sorted(context.items())).encode())


def test_seal_then_unseal_returns_the_secret_with_one_data_key_per_seal() -> None:
    kms = FakeKms()
    secret = secrets.token_bytes(64)
    sealed = seal(secret, "wal_a", kms)
    assert secret not in sealed.ciphertext
    assert len(sealed.ciphertext) == 64 + 16
    assert unseal(sealed, "wal_a", kms) == secret
    assert kms.generated == 1


def test_a_sealed_secret_does_not_open_for_another_wallet() -> None:
    kms = FakeKms()
    sealed = seal(b"k" * 64, "wal_a", kms)
    with pytest.raises(Exception):  # the fake KMS refuses the foreign encryption context
        unseal(sealed, "wal_b", kms)


def test_a_tampered_ciphertext_is_refused() -> None:
    kms = FakeKms()
    sealed = seal(b"k" * 64, "wal_a", kms)
    flipped = bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:]
    tampered = SealedSecret(flipped, sealed.nonce, sealed.wrapped_key, sealed.key_id)
    with pytest.raises(SealedSecretCorrupt):
        unseal(tampered, "wal_a", kms)


def test_after_erase_nothing_decrypts_and_the_ciphertext_is_kept() -> None:
    kms = FakeKms()
    sealed = seal(b"k" * 64, "wal_a", kms)
    erased = erase(sealed)
    assert erased.erased and not sealed.erased
    assert erased.ciphertext == sealed.ciphertext
    with pytest.raises(KeyMaterialErased):
        unseal(erased, "wal_a", kms)
