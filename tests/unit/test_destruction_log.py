"""The destruction log an auditor checks: canonical record, SHA-256 verification hash, tamper evidence."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.destruction.log import build_log, canonical, facts_of, verify
from shared.destruction.service import EARLY_TOLERANCE, _reason
from shared.destruction.triggers import DestructionReason
from shared.models.wallet import Wallet, WalletMode, WalletStatus

FACTS = {
    "tenant_id": "tenant-a",
    "reason": "expired",
    "erased": {"item": "KEYS", "material": ["evm_private_key", "solana_ed25519_seed"]},
    "final_movements": [{"journal_id": "jrn_abc", "kind": "refund", "amount": "151.00"}],
    "card": None,
}


def test_an_auditor_recomputes_the_hash_from_the_stored_record() -> None:
    log = build_log("wal_1", FACTS)
    assert log.verification_hash == hashlib.sha256(log.record.encode()).hexdigest()
    assert verify(log)
    facts = facts_of(log)
    assert (facts["method"], facts["wallet_id"]) == ("crypto_erase", "wal_1")
    assert "800-88" in facts["standard"]


def test_the_record_is_canonical_whatever_order_the_facts_came_in() -> None:
    shuffled = dict(reversed(list(FACTS.items())))
    assert build_log("wal_1", shuffled) == build_log("wal_1", FACTS)
    assert " " not in canonical({"a": [1, 2], "b": {"c": None}})


@pytest.mark.parametrize(
    "tamper",
    [
        lambda record: record.replace("151.00", "15.00"),
        lambda record: json.dumps(json.loads(record), indent=1),
        lambda record: record.replace('"wal_1"', '"wal_2"'),
    ],
)
def test_any_change_to_the_record_fails_verification(tamper: object) -> None:
    log = build_log("wal_1", FACTS)
    changed = replace(log, record=tamper(log.record))  # type: ignore[operator]
    assert not verify(changed)


def test_a_reformatted_record_fails_even_with_its_own_hash() -> None:
    log = build_log("wal_1", FACTS)
    pretty = json.dumps(json.loads(log.record), indent=1)
    assert not verify(
        replace(log, record=pretty, verification_hash=hashlib.sha256(pretty.encode()).hexdigest())
    )


def test_floats_are_refused() -> None:
    with pytest.raises(TypeError):
        build_log("wal_1", {"amount": 1.5})


KEYS = st.text(min_size=1, max_size=8).filter(lambda key: key not in ("wallet_id", "method"))


@given(st.dictionaries(KEYS, st.one_of(st.text(), st.integers(), st.none(), st.lists(st.integers()))))
def test_every_log_of_json_facts_verifies(facts: dict[str, object]) -> None:
    assert verify(build_log("wal_x", facts))


NOW = datetime(2030, 1, 1, tzinfo=UTC)


def wallet(status: WalletStatus, expires_in: timedelta | None) -> Wallet:
    return Wallet(
        wallet_id="wal_1",
        tenant_id="t",
        wallet_type=WalletMode.EPHEMERAL,
        status=status,
        evm_address="0x" + "0" * 40,
        solana_address="x",
        spending_limit=Decimal(10),
        currency="USD",
        expires_at=NOW + expires_in if expires_in is not None else None,
        created_by="u",
        created_at=NOW,
        updated_at=NOW,
    )


@pytest.mark.parametrize(
    ("status", "expires_in", "reason"),
    [
        (WalletStatus.PAYMENT_COMPLETE, timedelta(hours=1), DestructionReason.PAID),
        (WalletStatus.FUNDED, timedelta(seconds=0), DestructionReason.EXPIRED),
        (WalletStatus.ACTIVE, -timedelta(days=1), DestructionReason.EXPIRED),
        (WalletStatus.ACTIVE, EARLY_TOLERANCE, DestructionReason.EXPIRED),
        (WalletStatus.ACTIVE, EARLY_TOLERANCE + timedelta(seconds=1), None),
        (WalletStatus.FUNDED, timedelta(hours=1), None),
    ],
)
def test_a_trigger_destroys_only_a_paid_or_expired_wallet(
    status: WalletStatus, expires_in: timedelta, reason: DestructionReason | None
) -> None:
    assert _reason(wallet(status, expires_in), NOW) is reason
