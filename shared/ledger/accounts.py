"""The chart of accounts: who holds value in which asset, and which side each account's balance lives on.

Sign convention: an entry is a debit (positive) or a credit (negative) of integer minor units; every
journal's entries sum to zero per asset. Accounts that hold value (the fiat reserve, wallets, merchant
settlement, fees) are debit-normal: their balance is debits - credits. Accounts that stand for where value
came from (the token supply, the outside world) are credit-normal: balance is credits - debits. So
`supply:token:USDC` is the tokens outstanding (minted - burned) and every holding account's balance is
what it holds. None goes below zero except the outside world's: wallets, settlements and fees by a
condition on their own item; the reserve and supply as a consequence of those (see `AccountType.guarded`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from shared.ledger.assets import Asset, AssetKind, asset

# The identifier alphabet of shared.models.common: never `#`, so an owner cannot forge another item key.
_OWNER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@|+-]{0,127}$")
RESERVE_OWNER = "fiat"
SUPPLY_OWNER = "token"


class Side(StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"


class AccountType(StrEnum):
    RESERVE = "reserve"
    """The fiat held 1:1 against the tokens of its currency: one per currency, `reserve:fiat:USD`."""
    SUPPLY = "supply"
    """Tokens outstanding: one per stablecoin, `supply:token:USDC`; credited by a mint, debited by a burn."""
    WALLET = "wallet"
    """Tokens a wallet holds: `wallet:{wallet_id}:USDC`."""
    SETTLEMENT = "settlement"
    """What a merchant (tenant) has been paid: `settlement:{tenant}:USDC`."""
    FEES = "fees"
    """Fees collected on a tenant's business: `fees:{tenant}:USD` or in a token."""
    EXTERNAL = "external"
    """The outside world, by channel: `external:stripe:USD` (card/ACH), `external:bank:USD` (withdrawals),
    `external:chain:USDC` (tokens sent to addresses we do not hold). Unguarded: its sign is history."""

    @property
    def normal_side(self) -> Side:
        return Side.CREDIT if self in (AccountType.SUPPLY, AccountType.EXTERNAL) else Side.DEBIT

    @property
    def sharded(self) -> bool:
        """The platform accounts nearly every posting moves: kept in the running-totals shards
        (shared/ledger/shards.py), never as one item, which would cap the platform at one item's writes."""
        return self in (AccountType.RESERVE, AccountType.SUPPLY, AccountType.EXTERNAL)

    @property
    def guarded(self) -> bool:
        """Whether posting checks, with a condition on the account's own item, that its balance stays >= 0.

        The reserve and supply are not checked per posting: their balance is a sum of shards, and a shard
        holds a slice of it, which may rightly go below zero (a withdrawal whose journal hashes to a shard
        that its funding's did not). A condition on the shard would refuse covered withdrawals; reading
        every shard first would make every posting read the hot items again. Neither is needed, because
        the guard on the wallets already implies theirs (and the property tests check it):
        - supply:token:T = what the guarded accounts hold in T + what left to the outside world
          (`external:chain:T`, only ever debited by the movements we build). Burning T credits a wallet
          guarded to hold the amount, so the supply stays >= what the guarded accounts hold >= 0;
        - reserve:fiat:C moves only with a mint or burn of the same value of a token C backs (funding,
          refund, withdrawal), so it equals the supply of those tokens >= 0, which is exactly the equality
          the daily reconciliation proves, and raises `reserve:discrepancy` when it does not hold.
        """
        return not self.sharded

    @property
    def keeps_statement(self) -> bool:
        """Accounts someone reads a history of get one statement line per journal; the busy platform
        accounts (reserve, supply, outside world) are explained by the journals themselves."""
        return self in (AccountType.WALLET, AccountType.SETTLEMENT, AccountType.FEES)


@dataclass(frozen=True, order=True)
class Account:
    type: AccountType
    owner: str
    asset: str

    def __post_init__(self) -> None:
        if not isinstance(self.type, AccountType):
            raise ValueError(f"unknown account type {self.type!r}")
        if not isinstance(self.owner, str) or not _OWNER.fullmatch(self.owner):
            raise ValueError(f"account owner {self.owner!r} is not an identifier")
        kind = asset(self.asset).kind
        if self.type is AccountType.RESERVE and (kind is not AssetKind.FIAT or self.owner != RESERVE_OWNER):
            raise ValueError("a reserve account is reserve:fiat:{currency}")
        if self.type is AccountType.SUPPLY and (kind is not AssetKind.TOKEN or self.owner != SUPPLY_OWNER):
            raise ValueError("a supply account is supply:token:{stablecoin}")
        if self.type is AccountType.WALLET and kind is not AssetKind.TOKEN:
            raise ValueError("wallets hold stablecoins, not fiat")

    @property
    def key(self) -> str:
        return f"{self.type.value}:{self.owner}:{self.asset}"

    @property
    def asset_info(self) -> Asset:
        return asset(self.asset)

    def __str__(self) -> str:
        return self.key

    @classmethod
    def parse(cls, key: str) -> Account:
        # Owners may contain ':' (tenant ids can); type and asset never do.
        head, _, rest = key.partition(":")
        owner, _, code = rest.rpartition(":")
        if not owner or not code:
            raise ValueError(f"{key!r} is not type:owner:asset")
        try:
            kind = AccountType(head)
        except ValueError as exc:
            raise ValueError(f"unknown account type in {key!r}") from exc
        return cls(kind, owner, code)

    @classmethod
    def reserve(cls, currency: str) -> Account:
        return cls(AccountType.RESERVE, RESERVE_OWNER, currency)

    @classmethod
    def supply(cls, token: str) -> Account:
        return cls(AccountType.SUPPLY, SUPPLY_OWNER, token)

    @classmethod
    def wallet(cls, wallet_id: str, token: str) -> Account:
        return cls(AccountType.WALLET, wallet_id, token)

    @classmethod
    def settlement(cls, tenant_id: str, asset_code: str) -> Account:
        return cls(AccountType.SETTLEMENT, tenant_id, asset_code)

    @classmethod
    def fees(cls, tenant_id: str, asset_code: str) -> Account:
        return cls(AccountType.FEES, tenant_id, asset_code)

    @classmethod
    def external(cls, channel: str, asset_code: str) -> Account:
        return cls(AccountType.EXTERNAL, channel, asset_code)
