"""Real key pairs for a wallet: secp256k1 for the EVM address, ed25519 for the Solana address."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import base58
from Crypto.Hash import keccak
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

_SECP256K1_ORDER = int("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", 16)


def keccak256(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


def to_checksum_address(address: str) -> str:
    """EIP-55 mixed-case checksum of a 20-byte hex address."""
    body = address.lower().removeprefix("0x")
    if len(body) != 40 or any(c not in "0123456789abcdef" for c in body):
        raise ValueError("not a 20-byte hex address")
    digest = keccak256(body.encode("ascii")).hex()
    return "0x" + "".join(c.upper() if int(digest[i], 16) >= 8 else c for i, c in enumerate(body))


def is_checksum_address(address: str) -> bool:
    try:
        return to_checksum_address(address) == address
    except ValueError:
        return False


def evm_address(private_key: bytes) -> str:
    """The EIP-55 address of a secp256k1 private key: last 20 bytes of keccak-256(uncompressed pubkey)."""
    scalar = int.from_bytes(private_key, "big")
    if not 0 < scalar < _SECP256K1_ORDER:
        raise ValueError("secp256k1 private key out of range")
    public = ec.derive_private_key(scalar, ec.SECP256K1()).public_key()
    point = public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return to_checksum_address(keccak256(point[1:])[-20:].hex())


def solana_address(seed: bytes) -> str:
    """Base58 of the ed25519 public key derived from a 32-byte seed (Solana's address format)."""
    public = ed25519.Ed25519PrivateKey.from_private_bytes(seed).public_key()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base58.b58encode(raw).decode("ascii")


@dataclass(frozen=True)
class WalletKeys:
    """Private keys of one wallet. Never logged or returned: repr hides the secrets."""

    evm_private_key: bytes = field(repr=False)
    solana_seed: bytes = field(repr=False)
    evm_address: str
    solana_address: str

    def secret_bytes(self) -> bytes:
        """The 64 bytes that get envelope-encrypted: the EVM key then the Solana seed."""
        return self.evm_private_key + self.solana_seed

    @classmethod
    def from_secret_bytes(cls, secret: bytes) -> WalletKeys:
        if len(secret) != 64:
            raise ValueError("wallet secret must be 64 bytes")
        return cls.from_private(secret[:32], secret[32:])

    @classmethod
    def from_private(cls, evm_private_key: bytes, solana_seed: bytes) -> WalletKeys:
        return cls(evm_private_key, solana_seed, evm_address(evm_private_key), solana_address(solana_seed))


def generate_wallet_keys() -> WalletKeys:
    """Fresh key pairs from the OS CSPRNG (rejection-sampled into secp256k1's range)."""
    while True:
        evm_private_key = secrets.token_bytes(32)
        if 0 < int.from_bytes(evm_private_key, "big") < _SECP256K1_ORDER:
            break
    return WalletKeys.from_private(evm_private_key, secrets.token_bytes(32))
