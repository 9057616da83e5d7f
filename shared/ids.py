"""Prefixed random identifiers (`inv_`, `wal_`, `card_`, `txn_`, `evt_`, `aud_`)."""

from __future__ import annotations

import hashlib
import re
import secrets

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def new_id(prefix: str, length: int = 24) -> str:
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def derived_id(prefix: str, *parts: str, length: int = 24) -> str:
    """The one id that `parts` name (a person's first wallet, a tenant's treasury): concurrent or retried
    creations all compute it, so the table keeps one."""
    digest = int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest(), "big")
    chars = []
    for _ in range(length):
        digest, digit = divmod(digest, 36)
        chars.append(_ALPHABET[digit])
    return f"{prefix}_" + "".join(chars)


_WALLET_ID = re.compile(r"^wal_[0-9a-z]{24}$")


def is_wallet_id(text: str) -> bool:
    """A well-formed wallet id (`wal_` and 24 lowercase letters or digits)."""
    return bool(_WALLET_ID.fullmatch(text))
