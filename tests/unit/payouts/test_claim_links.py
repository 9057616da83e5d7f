"""Payroll claim links: the payment links' signing under their own domain and path, so a claim token is never
a payment link (the authorizer would take it for one) and a payment link is never a claim."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.checkout.links import PaymentLinks
from shared.clock import FixedClock
from shared.errors import InvalidLink
from shared.payouts.payroll import CLAIM_LINK_DOMAIN, CLAIM_PATH, claim_wallet_id
from tests.unit.wallets.fakes import NOW

SECRET = "a-long-enough-payment-link-secret"


def claim_links(clock: FixedClock) -> PaymentLinks:
    return PaymentLinks(SECRET, clock, "https://pay.example", domain=CLAIM_LINK_DOMAIN, path=CLAIM_PATH)


def test_a_claim_link_lives_until_its_wallet_expires_and_is_no_payment_link() -> None:
    clock = FixedClock(NOW)
    wallet_id = claim_wallet_id("po_" + "a" * 24, 3, 1)
    expires = NOW + timedelta(days=7)
    token, expires_at = claim_links(clock).issue("tenant-a", "po_" + "a" * 24, wallet_id, expires)
    assert expires_at == expires
    assert claim_links(clock).url(token) == f"https://pay.example/public/claim/{token}"
    assert claim_links(clock).verify(token).wallet_id == wallet_id
    with pytest.raises(InvalidLink):
        PaymentLinks(SECRET, clock, "https://pay.example").verify(token)
    payment, _ = PaymentLinks(SECRET, clock, "https://pay.example").issue("tenant-a", "inv_x", wallet_id)
    with pytest.raises(InvalidLink):
        claim_links(clock).verify(payment)
    clock.advance(days=7)
    with pytest.raises(InvalidLink, match="expired"):
        claim_links(clock).verify(token)


def test_a_claim_wallet_id_is_fixed_by_the_item_and_its_attempt() -> None:
    first = claim_wallet_id("po_1", 0, 1)
    assert first == claim_wallet_id("po_1", 0, 1) and first.startswith("wal_") and len(first) == 28
    assert len({first, claim_wallet_id("po_1", 0, 2), claim_wallet_id("po_1", 1, 1)}) == 3
