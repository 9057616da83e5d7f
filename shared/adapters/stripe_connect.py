"""BankPayouts on Stripe Connect: a custom connected account per person and bank account, a transfer from the
platform balance to it, and a payout of it to the bank (`instant` or `standard`); a transfer reversal takes a
failed payout's money back to the platform."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import stripe

from shared.adapters.stripe_client import stripe_errors
from shared.consumer.withdrawals import Payout


class StripeBankPayouts:
    def __init__(self, client: stripe.StripeClient) -> None:
        self._client = client

    def connected_account(self, bank_account: str, metadata: dict[str, str], idempotency_key: str) -> str:
        params: dict[str, Any] = {
            "type": "custom",
            "country": "US",
            "capabilities": {"transfers": {"requested": True}},
            "external_account": bank_account,
            "metadata": metadata,
        }
        with stripe_errors("create connected account"):
            account = self._client.v1.accounts.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key},
            )
        return str(account.id)

    def transfer(
        self,
        account_id: str,
        amount_minor: int,
        currency: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> str:
        with stripe_errors("create transfer"):
            transfer = self._client.v1.transfers.create(
                params={
                    "amount": amount_minor,
                    "currency": currency.lower(),
                    "destination": account_id,
                    "metadata": metadata,
                },
                options={"idempotency_key": idempotency_key},
            )
        return str(transfer.id)

    def pay_out(
        self,
        account_id: str,
        amount_minor: int,
        currency: str,
        speed: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> Payout:
        with stripe_errors("create payout"):
            payout = self._client.v1.payouts.create(
                params={
                    "amount": amount_minor,
                    "currency": currency.lower(),
                    "method": "instant" if speed == "instant" else "standard",
                    "metadata": metadata,
                },
                options={"idempotency_key": idempotency_key, "stripe_account": account_id},
            )
        return Payout(
            account_id=account_id,
            payout_id=str(payout.id),
            status=str(payout.status),
            arrival_date=datetime.fromtimestamp(int(payout.arrival_date), tz=UTC),
        )

    def reverse_transfer(self, transfer_id: str, amount_minor: int, idempotency_key: str) -> str:
        with stripe_errors("reverse transfer"):
            reversal = self._client.v1.transfers.reversals.create(
                transfer_id, params={"amount": amount_minor}, options={"idempotency_key": idempotency_key}
            )
        return str(reversal.id)
