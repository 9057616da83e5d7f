"""Cards whose wallet never committed: a creation records a card intent before asking Stripe for the card
and its commit drops it, so an intent past its deadline names a card that may exist, be active and belong to
no wallet (a crash, a failure or a lost cap race between the card and the commit). The sweeper fences the
intent first (a creation from then on asks for a new card under the next generation, so a retry never
adopts the cancelled one), then learns the card by replaying its create with the same idempotency key and
cancels it. Every step is keyed, so a sweep that dies midway is finished by the next one."""

from __future__ import annotations

from typing import Protocol

from aws_lambda_powertools import Logger

from shared.cards.ports import CardIssuer
from shared.clock import Clock
from shared.models.wallet import Wallet
from shared.wallets.ports import CardIntent, CardIntentStore
from shared.wallets.service import card_idempotency_key

logger = Logger(child=True)


class WalletLookup(Protocol):
    def get(self, wallet_id: str) -> Wallet | None: ...


def orphan_off_key(intent: CardIntent) -> str:
    return f"card-orphan-off-{intent.wallet_id}-g{intent.generation}"


class OrphanCards:
    def __init__(
        self, intents: CardIntentStore, wallets: WalletLookup, cards: CardIssuer, clock: Clock
    ) -> None:
        self._intents = intents
        self._wallets = wallets
        self._cards = cards
        self._clock = clock

    def finish_intent(self, wallet_id: str, token: str) -> str:
        """An intent past its deadline: "committed" when its wallet exists (its card is that wallet's; a
        creation that lost the invoice race wrote the intent after the winner dropped it), "renewed" when
        a creation took it up again meanwhile, else the card is fenced off and cancelled."""
        intent = self._intents.card_intent(wallet_id)
        if intent is None:
            return "gone"
        if self._wallets.get(wallet_id) is not None:
            return "committed"
        if not self._intents.fence(intent, token, self._clock.now()):
            return "renewed"
        return self._cancel(intent)

    def finish_cancellation(self, wallet_id: str, generation: int) -> str:
        """A fenced card whose cancellation a previous sweep did not finish."""
        intent = self._intents.cancellation(wallet_id, generation)
        if intent is None:
            return "gone"
        return self._cancel(intent)

    def _cancel(self, intent: CardIntent) -> str:
        # The same key and parameters as the creation: Stripe answers with the card it made then, or makes
        # it now if the creation died before its call reached Stripe (cancelled at once all the same).
        card = self._cards.create_card(
            intent.wallet_id,
            intent.cardholder_ref,
            intent.spending_limit_minor,
            intent.currency,
            card_idempotency_key(intent.wallet_id, intent.generation),
        )
        wallet = self._wallets.get(intent.wallet_id)
        if wallet is not None and wallet.card_id == card.card_id:
            # Unreachable while the commit requires the unfenced intent; never cancel a committed card.
            logger.error("a fenced card belongs to a committed wallet", extra={"wallet_id": intent.wallet_id})
            self._intents.cancelled(intent, card.card_id, self._clock.now())
            return "committed"
        self._cards.deactivate_card(card.card_id, orphan_off_key(intent))
        self._intents.cancelled(intent, card.card_id, self._clock.now())
        logger.info(
            "cancelled a card whose wallet never committed",
            extra={"wallet_id": intent.wallet_id, "card_id": card.card_id, "generation": intent.generation},
        )
        return "card_cancelled"
