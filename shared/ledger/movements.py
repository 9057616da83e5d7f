"""The product's money movements as journals: fund, pay, refund, withdraw, transfer.

Each builder returns a validated Journal whose id is derived from the business operation, so a retried
request builds the same journal and cannot post twice. Amounts are integer minor units of the asset named
beside them; fiat and its stablecoin convert 1:1 in major units (100 USD cents = 1 000 000 USDC units).
"""

from __future__ import annotations

from datetime import datetime

from shared.ledger.accounts import Account
from shared.ledger.assets import fiat_to_token, token_to_fiat
from shared.ledger.journal import Entry, Journal, JournalKind, credit, debit, journal_id_for


def funding(
    *,
    operation_id: str,
    wallet_id: str,
    tenant_id: str,
    currency: str,
    token: str,
    fiat_amount: int,
    fee: int = 0,
    channel: str = "stripe",
    created_at: datetime,
    **references: str,
) -> Journal:
    """The payer paid `fiat_amount + fee` through `channel`: `fiat_amount` goes into the reserve and the
    same value is minted to the wallet; the fee goes to the tenant's fee account, outside the reserve."""
    minted = fiat_to_token(fiat_amount, currency, token)
    entries: list[Entry] = [
        credit(Account.external(channel, currency), fiat_amount + fee),
        debit(Account.reserve(currency), fiat_amount),
        credit(Account.supply(token), minted),
        debit(Account.wallet(wallet_id, token), minted),
    ]
    if fee:
        entries.append(debit(Account.fees(tenant_id, currency), fee))
    journal_id = journal_id_for(JournalKind.FUND, operation_id)
    refs = {"wallet_id": wallet_id, "tenant_id": tenant_id, "operation_id": operation_id, **references}
    return Journal(journal_id, JournalKind.FUND, tuple(entries), created_at, refs)


def payment(
    *,
    operation_id: str,
    wallet_id: str,
    tenant_id: str,
    token: str,
    amount: int,
    fee: int = 0,
    created_at: datetime,
    **references: str,
) -> Journal:
    """`amount` tokens leave the wallet: `amount - fee` to the merchant's settlement, `fee` to fees."""
    if not 0 <= fee < amount:
        raise ValueError("the fee must be less than the payment")
    entries = [
        credit(Account.wallet(wallet_id, token), amount),
        debit(Account.settlement(tenant_id, token), amount - fee),
    ]
    if fee:
        entries.append(debit(Account.fees(tenant_id, token), fee))
    refs = {"wallet_id": wallet_id, "tenant_id": tenant_id, "operation_id": operation_id, **references}
    return Journal(
        journal_id_for(JournalKind.PAY, operation_id), JournalKind.PAY, tuple(entries), created_at, refs
    )


def _burn_and_pay_out(
    kind: JournalKind,
    operation_id: str,
    wallet_id: str,
    token: str,
    currency: str,
    token_amount: int,
    channel: str,
    created_at: datetime,
    references: dict[str, str],
) -> Journal:
    fiat = token_to_fiat(token_amount, token, currency)
    entries = (
        credit(Account.wallet(wallet_id, token), token_amount),
        debit(Account.supply(token), token_amount),
        credit(Account.reserve(currency), fiat),
        debit(Account.external(channel, currency), fiat),
    )
    refs = {"wallet_id": wallet_id, "operation_id": operation_id, **references}
    return Journal(journal_id_for(kind, operation_id), kind, entries, created_at, refs)


def refund(
    *,
    operation_id: str,
    wallet_id: str,
    token: str,
    currency: str,
    token_amount: int,
    channel: str = "stripe",
    created_at: datetime,
    **references: str,
) -> Journal:
    """Excess tokens burned from the wallet and the same fiat paid back to the payer out of the reserve.
    `token_amount` must be a whole number of fiat minor units (round the dust down before calling)."""
    return _burn_and_pay_out(
        JournalKind.REFUND,
        operation_id,
        wallet_id,
        token,
        currency,
        token_amount,
        channel,
        created_at,
        references,
    )


def withdrawal(
    *,
    operation_id: str,
    wallet_id: str,
    token: str,
    currency: str,
    token_amount: int,
    channel: str = "bank",
    created_at: datetime,
    **references: str,
) -> Journal:
    """Tokens burned from the wallet and the same fiat paid out of the reserve to the holder's bank."""
    return _burn_and_pay_out(
        JournalKind.WITHDRAW,
        operation_id,
        wallet_id,
        token,
        currency,
        token_amount,
        channel,
        created_at,
        references,
    )


def transfer(
    *,
    operation_id: str,
    source: Account,
    destination: Account,
    amount: int,
    created_at: datetime,
    **references: str,
) -> Journal:
    """`amount` of one token between two accounts: P2P, or a destroyed wallet's remainder forwarded to
    `Account.external("chain", token)` (tokens still exist, outside our custody)."""
    if source.asset != destination.asset:
        raise ValueError("a transfer stays in one asset")
    entries = (credit(source, amount), debit(destination, amount))
    journal_id = journal_id_for(JournalKind.TRANSFER, operation_id)
    refs = {"operation_id": operation_id, **references}
    return Journal(journal_id, JournalKind.TRANSFER, entries, created_at, refs)
