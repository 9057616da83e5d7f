"""Pay, then destroy: the use case above paying and destruction. The payment commits first (the service
answers with the wallet as committed); an ephemeral wallet whose invoice it paid in full is then destroyed
before the answer.

Neither service knows the other through this: paying knows nothing of destruction, and destruction lands an
interrupted payment through its own narrow port (`InFlightPayments.settle_in_flight`, which never destroys),
so there is no cycle pay -> destroy -> settle_in_flight -> pay.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from aws_lambda_powertools import Logger

from shared.auth import Principal
from shared.errors import WalletsError
from shared.funding.ports import WalletReader
from shared.models.wallet import Wallet, WalletMode, WalletStatus
from shared.payments.ports import WalletDestroyer
from shared.payments.service import PaymentOutcome, PaymentService

logger = Logger(child=True)

PAYMENT_TRIGGER = "payment"


class PayInvoice:
    def __init__(self, payments: PaymentService, destroyer: WalletDestroyer, wallets: WalletReader) -> None:
        self._payments = payments
        self._destroyer = destroyer
        self._wallets = wallets

    def pay(self, principal: Principal, wallet_id: str, amount: Decimal | None) -> PaymentOutcome:
        outcome = self._payments.pay(principal, wallet_id, amount)
        if outcome.wallet.status is not WalletStatus.PAYMENT_COMPLETE:
            return outcome
        return replace(outcome, wallet_status=self._destroy_now(outcome.wallet))

    def _destroy_now(self, wallet: Wallet) -> WalletStatus:
        """An ephemeral wallet whose invoice is paid dies before the answer. If a step fails (the provider
        is down for the burn, Stripe refuses the refund...), the payment stands, the wallet stays
        `payment_complete`/`destroying`, and its schedule is moved to a minute from now so that the retry
        does not wait for `expires_at` (days away, perhaps); the lease's TTL stays the last backstop."""
        if wallet.wallet_type is not WalletMode.EPHEMERAL:
            return wallet.status
        try:
            outcome = self._destroyer.destroy(wallet.wallet_id, PAYMENT_TRIGGER, wallet)
        except WalletsError as exc:
            logger.warning(
                "destruction after payment failed; its schedule resumes it in a minute",
                extra={"wallet_id": wallet.wallet_id, "error": exc.message},
            )
            try:
                self._destroyer.retry_soon(wallet.wallet_id)
            except WalletsError as again:
                logger.warning(
                    "could not move the destruction schedule; it fires at expires_at",
                    extra={"wallet_id": wallet.wallet_id, "error": again.message},
                )
            current = self._wallets.get(wallet.wallet_id)
            return current.status if current is not None else wallet.status
        if outcome.destroyed:
            return WalletStatus.DESTROYED
        return wallet.status
