"""The destruction log's canonical record and verification hash.

The record is JSON with sorted keys, no insignificant whitespace and UTF-8 (the subset of RFC 8785 that
our values need: strings, integers, booleans, null, lists and objects; no floats). It is stored exactly as
hashed, so an auditor recomputes `sha256(record)` from the stored text and compares it with
`verification_hash`; `facts_of` parses it back for reading.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from shared.destruction.ports import DestructionLog

METHOD = "crypto_erase"
STANDARD = "NIST SP 800-88 Rev. 1, Cryptographic Erase (CE)"


def canonical(facts: dict[str, Any]) -> str:
    _refuse_floats(facts)
    return json.dumps(facts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def verification_hash(record: str) -> str:
    return hashlib.sha256(record.encode("utf-8")).hexdigest()


def build_log(wallet_id: str, facts: dict[str, Any]) -> DestructionLog:
    record = canonical({"wallet_id": wallet_id, "method": METHOD, "standard": STANDARD, **facts})
    return DestructionLog(wallet_id, record, verification_hash(record))


def verify(log: DestructionLog) -> bool:
    """What an auditor does: the hash of the stored record, and the record is canonical and about this
    wallet (a reordered or reformatted record is not the one that was hashed)."""
    facts = facts_of(log)
    return (
        verification_hash(log.record) == log.verification_hash
        and canonical(facts) == log.record
        and facts.get("wallet_id") == log.wallet_id
        and facts.get("method") == METHOD
    )


def facts_of(log: DestructionLog) -> dict[str, Any]:
    facts: dict[str, Any] = json.loads(log.record)
    return facts


def _refuse_floats(value: Any) -> None:
    if isinstance(value, float):
        raise TypeError("the destruction log holds no floats: amounts are decimal strings or minor units")
    if isinstance(value, dict):
        for item in value.values():
            _refuse_floats(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _refuse_floats(item)
