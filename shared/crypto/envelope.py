"""Envelope encryption of wallet keys: AES-256-GCM under a per-wallet KMS data key, and crypto-erase.

One data key per wallet (one KMS GenerateDataKey call); the wrapped data key is stored beside the ciphertext
and the wallet id is both the AES-GCM associated data and the KMS encryption context, so a ciphertext moved to
another wallet record does not decrypt. Erasure (NIST SP 800-88 cryptographic erase) deletes the wrapped data
key: the ciphertext that stays behind can no longer be opened by anyone, KMS administrators included.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.errors import WalletsError

ALGORITHM = "AES-256-GCM"
_NONCE_BYTES = 12


class KeyMaterialErased(WalletsError):
    """The wrapped data key is gone: this secret was cryptographically erased."""

    status, code = 400, "invalid_state"


class SealedSecretCorrupt(WalletsError):
    """The ciphertext does not authenticate for this wallet (tampered or moved)."""


@dataclass(frozen=True)
class DataKey:
    plaintext: bytes = field(repr=False)
    wrapped: bytes
    key_id: str


class DataKeyService(Protocol):
    """The KMS port: make a fresh data key, and unwrap one, both bound to an encryption context."""

    def generate_data_key(self, context: dict[str, str]) -> DataKey: ...

    def decrypt_data_key(self, wrapped: bytes, context: dict[str, str]) -> bytes: ...


@dataclass(frozen=True)
class SealedSecret:
    ciphertext: bytes
    nonce: bytes
    wrapped_key: bytes | None
    key_id: str
    algorithm: str = ALGORITHM

    @property
    def erased(self) -> bool:
        return self.wrapped_key is None


def _context(wallet_id: str) -> dict[str, str]:
    return {"wallet_id": wallet_id}


def seal(secret: bytes, wallet_id: str, keys: DataKeyService) -> SealedSecret:
    data_key = keys.generate_data_key(_context(wallet_id))
    nonce = secrets.token_bytes(_NONCE_BYTES)
    ciphertext = AESGCM(data_key.plaintext).encrypt(nonce, secret, wallet_id.encode("utf-8"))
    return SealedSecret(
        ciphertext=ciphertext, nonce=nonce, wrapped_key=data_key.wrapped, key_id=data_key.key_id
    )


def unseal(sealed: SealedSecret, wallet_id: str, keys: DataKeyService) -> bytes:
    if sealed.wrapped_key is None:
        raise KeyMaterialErased(f"keys of {wallet_id} were cryptographically erased")
    if sealed.algorithm != ALGORITHM:
        raise SealedSecretCorrupt(f"unknown algorithm {sealed.algorithm}")
    plaintext_key = keys.decrypt_data_key(sealed.wrapped_key, _context(wallet_id))
    try:
        return AESGCM(plaintext_key).decrypt(sealed.nonce, sealed.ciphertext, wallet_id.encode("utf-8"))
    except InvalidTag as exc:
        raise SealedSecretCorrupt(f"sealed keys of {wallet_id} do not authenticate") from exc


def erase(sealed: SealedSecret) -> SealedSecret:
    """The record as stored after erasure: no wrapped key; the now useless ciphertext is kept for audit."""
    return SealedSecret(
        ciphertext=sealed.ciphertext, nonce=sealed.nonce, wrapped_key=None, key_id=sealed.key_id
    )
