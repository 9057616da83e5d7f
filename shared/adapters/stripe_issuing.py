"""The card-issuer port on Stripe Issuing: single-use virtual cards capped at the invoice amount."""

from __future__ import annotations

from typing import Any, cast

import stripe

from shared.adapters.stripe_client import metadata_of, stripe_errors
from shared.cards.ports import CardholderAddress, CardStatus, IssuedCard
from shared.errors import ValidationFailed, WalletsError

_PAGE_SIZE = 100


class StripeCardIssuer:
    def __init__(self, client: stripe.StripeClient) -> None:
        self._client = client

    def create_cardholder(
        self, tenant_id: str, name: str, email: str, address: CardholderAddress, idempotency_key: str
    ) -> str:
        billing: dict[str, str] = {
            "line1": address.line1,
            "city": address.city,
            "postal_code": address.postal_code,
            "country": address.country,
        }
        if address.state:
            billing["state"] = address.state
        if address.line2:
            billing["line2"] = address.line2
        with stripe_errors("create cardholder"):
            holder = self._client.v1.issuing.cardholders.create(
                params={
                    "type": "company",
                    "name": name,
                    "email": email,
                    "billing": {"address": billing},  # type: ignore[typeddict-item]
                    "metadata": {"tenant_id": tenant_id},
                },
                options={"idempotency_key": idempotency_key},
            )
        return holder.id

    def create_card(
        self,
        wallet_id: str,
        cardholder_ref: str,
        spending_limit_minor: int,
        currency: str,
        idempotency_key: str,
    ) -> IssuedCard:
        if isinstance(spending_limit_minor, bool) or not isinstance(spending_limit_minor, int):
            raise ValidationFailed("spending_limit_minor must be an integer of minor units")
        if spending_limit_minor <= 0:
            raise ValidationFailed("a card's spending limit must be positive")
        # all_time caps the card's lifetime spend at the invoice; per_authorization stops one
        # oversized purchase even before any other authorization is counted.
        limits: list[dict[str, Any]] = [
            {"amount": spending_limit_minor, "interval": "all_time"},
            {"amount": spending_limit_minor, "interval": "per_authorization"},
        ]
        with stripe_errors("create card"):
            card = self._client.v1.issuing.cards.create(
                params={
                    "cardholder": cardholder_ref,
                    "currency": currency.lower(),
                    "type": "virtual",
                    "status": "active",
                    "spending_controls": {"spending_limits": limits},  # type: ignore[typeddict-item]
                    "metadata": {"wallet_id": wallet_id, "single_use": "true"},
                },
                options={"idempotency_key": idempotency_key},
            )
        return _issued(card)

    def get_card(self, card_id: str) -> IssuedCard:
        with stripe_errors("retrieve card"):
            return _issued(self._client.v1.issuing.cards.retrieve(card_id))

    def deactivate_card(self, card_id: str, idempotency_key: str) -> IssuedCard:
        try:
            with stripe_errors("cancel card"):
                card = self._client.v1.issuing.cards.update(
                    card_id, params={"status": "canceled"}, options={"idempotency_key": idempotency_key}
                )
        except WalletsError:
            # Destruction runs from three triggers; a card another trigger already cancelled is done.
            current = self.get_card(card_id)
            if current.status == "canceled":
                return current
            raise
        return _issued(card)

    def remaining_limit(self, card_id: str) -> int:
        card = self.get_card(card_id)
        spent = 0
        with stripe_errors("list authorizations"):
            page = self._client.v1.issuing.authorizations.list(params={"card": card_id, "limit": _PAGE_SIZE})
            for authorization in page.auto_paging_iter():
                if authorization.approved:
                    spent += authorization.amount
        return max(0, card.spending_limit_minor - spent)


def _issued(card: stripe.issuing.Card) -> IssuedCard:
    limits = card.spending_controls.spending_limits or []
    all_time = [limit.amount for limit in limits if limit.interval == "all_time"]
    metadata = metadata_of(card.metadata)
    return IssuedCard(
        card_id=card.id,
        last4=card.last4,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
        status=cast(CardStatus, card.status),
        spending_limit_minor=min(all_time) if all_time else 0,
        currency=card.currency,
        wallet_id=metadata.get("wallet_id"),
    )
