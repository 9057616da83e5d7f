"""Per-tenant wallet counters: the deltas each write ADDs in its transaction, and the admin summary.

Counters (all integers, missing = 0): `created_total`, `destroyed_total`, `created_{mode}` (never
decremented: the share of wallets born ephemeral), `mode_{mode}` and `status_{status}` (current counts),
`ttl_seconds_total` / `ttl_wallets` (over wallets created with a countdown), and `live_ephemeral` (ephemeral
wallets not yet destroyed nor transformed: the tenant's cap is a condition on it in the creation's
transaction). A status change elsewhere
(fund, pay, destroy) ADDs -1 to the old `status_` counter and +1 to the new one in its own transaction.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from shared.models.wallet import Wallet, WalletMode, WalletStatus

LIVE_EPHEMERAL = "live_ephemeral"


def status_counter(status: WalletStatus) -> str:
    return f"status_{status.value}"


def mode_counter(mode: WalletMode) -> str:
    return f"mode_{mode.value}"


def creation_deltas(wallet: Wallet) -> dict[str, int]:
    deltas = {
        "created_total": 1,
        f"created_{wallet.wallet_type.value}": 1,
        mode_counter(wallet.wallet_type): 1,
        status_counter(wallet.status): 1,
    }
    if wallet.ttl_seconds is not None:
        deltas["ttl_seconds_total"] = wallet.ttl_seconds
        deltas["ttl_wallets"] = 1
    if wallet.wallet_type is WalletMode.EPHEMERAL:
        deltas[LIVE_EPHEMERAL] = 1
    return deltas


def transform_deltas(previous: WalletMode) -> dict[str, int]:
    deltas = {mode_counter(previous): -1, mode_counter(WalletMode.PERSISTENT): 1}
    if previous is WalletMode.EPHEMERAL:
        deltas[LIVE_EPHEMERAL] = -1
    return deltas


def destroyed_deltas(wallet: Wallet) -> dict[str, int]:
    """A wallet's status becoming `destroyed`; an ephemeral one leaves the live count."""
    deltas = status_change_deltas(wallet.status, WalletStatus.DESTROYED)
    if wallet.wallet_type is WalletMode.EPHEMERAL:
        deltas[LIVE_EPHEMERAL] = -1
    return deltas


def status_change_deltas(before: WalletStatus, after: WalletStatus) -> dict[str, int]:
    """For the issues that move a wallet's status: keeps the per-status counts true."""
    deltas = {status_counter(before): -1, status_counter(after): 1}
    if after is WalletStatus.DESTROYED:
        deltas["destroyed_total"] = 1
    return deltas


def summarize(counters: dict[str, int]) -> dict[str, Any]:
    """The admin view of a tenant's counters: counts by mode and status, totals, share and average TTL."""
    created = counters.get("created_total", 0)
    born_ephemeral = counters.get(f"created_{WalletMode.EPHEMERAL.value}", 0)
    ttl_wallets = counters.get("ttl_wallets", 0)
    share = Decimal(born_ephemeral) / Decimal(created) if created else Decimal(0)
    average = (
        int((Decimal(counters.get("ttl_seconds_total", 0)) / ttl_wallets).to_integral_value(ROUND_HALF_UP))
        if ttl_wallets
        else None
    )
    return {
        "by_mode": {mode.value: counters.get(mode_counter(mode), 0) for mode in WalletMode},
        "by_status": {status.value: counters.get(status_counter(status), 0) for status in WalletStatus},
        "created_total": created,
        "destroyed_total": counters.get("destroyed_total", 0),
        "ephemeral_share": f"{share.quantize(Decimal('0.0001'), ROUND_HALF_UP):f}",
        "average_ttl_seconds": average,
    }
