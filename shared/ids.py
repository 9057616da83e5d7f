"""Prefixed random identifiers (`inv_`, `wal_`, `card_`, `txn_`, `evt_`, `aud_`)."""

from __future__ import annotations

import re
import secrets

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def new_id(prefix: str, length: int = 24) -> str:
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))


_WALLET_ID = re.compile(r"^wal_[0-9a-z]{24}$")


def is_wallet_id(text: str) -> bool:
    """A well-formed wallet id (`wal_` and 24 lowercase letters or digits)."""
    return bool(_WALLET_ID.fullmatch(text))
