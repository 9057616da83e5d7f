"""The treasury of a tenant: one persistent wallet (made on first use, under an id derived from the tenant,
so concurrent first uses converge on one), its balances per coin from the ledger, and the holder its
deposits fund (shared/consumer/deposits.py is the deposit engine; the treasury's deposits carry no personal
KYC limit and announce themselves to the tenant's `admin` channel).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from shared.auth import ADMIN, MERCHANT, TREASURY_HOLDER, Principal, require_role
from shared.consumer.money import MoneyOp
from shared.consumer.ports import CounterCharge, ExchangeRates
from shared.consumer.records import COINS, Preferences, format_token, usd_micro
from shared.errors import ConcurrentUpdate
from shared.ids import derived_id
from shared.ledger.accounts import Account
from shared.ledger.assets import STABLECOINS
from shared.ledger.ports import LedgerStore
from shared.models.wallet import Wallet
from shared.outbox.records import DomainEvent, Record, Resource, domain_event, iso

TREASURY_DEPOSIT_KIND = "treasury_deposit"


def treasury_wallet_id(tenant_id: str) -> str:
    return derived_id("wal", "treasury", tenant_id)


@dataclass(frozen=True)
class TreasuryHolder:
    """The treasury as the deposit engine's holder: its operations are kept under the reserved subject
    `treasury` of the tenant (no JWT may name it)."""

    tenant_id: str
    wallet_id: str
    user_id: str = TREASURY_HOLDER
    preferences: Preferences = field(default_factory=Preferences)


class TreasuryWallets(Protocol):
    def create_treasury_wallet(self, principal: Principal, wallet_id: str, records: list[Record]) -> Any: ...


class WalletLookup(Protocol):
    def get(self, wallet_id: str) -> Wallet | None: ...


class TreasuryService:
    def __init__(
        self,
        wallets: WalletLookup,
        making: Callable[[], TreasuryWallets],
        ledger: LedgerStore,
        rates: ExchangeRates,
    ) -> None:
        self._wallets = wallets
        self._making = making
        self._ledger = ledger
        self._rates = rates

    # -- the deposit engine's holder (shared/consumer/deposits.DepositHolders) ------------------------
    def profile(self, principal: Principal) -> TreasuryHolder:
        return TreasuryHolder(principal.tenant_id, self.wallet(principal).wallet_id)

    def usd_value(self, coin: str, token_amount: int) -> int:
        return usd_micro(token_amount, self._rates.usd_rate(STABLECOINS[coin]).usd)

    def limit_charges(self, profile: Any, usd: int, now: datetime) -> list[CounterCharge]:
        """None: a tenant's treasury is funded by the business, not by a person under KYC limits."""
        return []

    # -- the wallet and its balances ------------------------------------------------------------------
    def wallet(self, principal: Principal) -> Wallet:
        """The tenant's treasury wallet, made now if this is its first use (merchant or admin)."""
        require_role(principal, MERCHANT, ADMIN)
        wallet_id = treasury_wallet_id(principal.tenant_id)
        found = self._wallets.get(wallet_id)
        if found is not None:
            return found
        marker = {"pk": f"TREASURY#{principal.tenant_id}", "sk": "WALLET", "wallet_id": wallet_id}
        try:
            return self._making().create_treasury_wallet(principal, wallet_id, [marker]).wallet  # type: ignore[no-any-return]
        except ConcurrentUpdate:
            again = self._wallets.get(wallet_id)
            if again is None:
                raise
            return again

    def balances(self, tenant_id: str) -> dict[str, int]:
        """Token minor units per coin the treasury holds now (what approved payouts hold is out of it)."""
        wallet_id = treasury_wallet_id(tenant_id)
        found = self._ledger.balances([Account.wallet(wallet_id, coin) for coin in COINS])
        return {account.asset: amount for account, amount in found.items()}

    def view(self, principal: Principal) -> dict[str, Any]:
        wallet = self.wallet(principal)
        balances = self.balances(principal.tenant_id)
        return {
            "treasury": {
                "wallet_id": wallet.wallet_id,
                "wallet_address": wallet.evm_address,
                "solana_address": wallet.solana_address,
                "status": wallet.status.value,
                "created_at": iso(wallet.created_at),
                "balances": [
                    {"currency": coin, "available": format_token(balances.get(coin, 0))} for coin in COINS
                ],
            }
        }


def treasury_deposit_events(op: MoneyOp, wallet_id: str, now: datetime) -> list[DomainEvent]:
    """A treasury deposit completed: on the tenant's `admin` channel, about the treasury wallet."""
    data = {
        "tenant_id": op.tenant_id,
        "wallet_id": wallet_id,
        "transaction_id": op.op_id,
        "amount": format_token(op.token_amount),
        "currency": op.coin,
        "provider": op.provider,
        "at": iso(now),
    }
    resource = Resource("wallet", wallet_id)
    return [
        domain_event("deposit:complete", ["admin"], {**data, "status": "completed"}, now, resource=resource),
        domain_event("balance:updated", ["admin"], data, now, resource=resource),
    ]
