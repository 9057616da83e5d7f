"""Payment-link tokens: sign and verify, tampering, expiry, foreign secrets, and the QR data URI."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from shared.checkout.links import LINK_LIFETIME, PaymentLinks, qr_data_uri
from shared.clock import FixedClock
from shared.errors import InvalidLink
from tests.unit.wallets.fakes import NOW

SECRET = "a-long-enough-payment-link-secret"
WALLET = "wal_" + "1" * 24
INVOICE = "inv_" + "a" * 24


def links(clock: FixedClock | None = None, secret: str = SECRET) -> PaymentLinks:
    return PaymentLinks(secret, clock or FixedClock(NOW), "https://pay.example/")


def test_a_token_verifies_to_its_claims_for_thirty_days() -> None:
    clock = FixedClock(NOW)
    token, expires_at = links(clock).issue("tenant-a", INVOICE, WALLET)
    assert expires_at == NOW + LINK_LIFETIME
    claims = links(clock).verify(token)
    assert (claims.tenant_id, claims.invoice_id, claims.wallet_id, claims.expires_at) == (
        "tenant-a",
        INVOICE,
        WALLET,
        expires_at,
    )
    assert links(clock).url(token) == f"https://pay.example/public/pay/{token}"
    clock.advance(days=30, seconds=-1)
    assert links(clock).verify(token).wallet_id == WALLET
    clock.advance(seconds=1)
    with pytest.raises(InvalidLink, match="expired"):
        links(clock).verify(token)


def _swap_claims(token: str, **changes: object) -> str:
    body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{forged}.{signature}"


def test_tampered_tokens_are_invalid() -> None:
    token, _ = links().issue("tenant-a", INVOICE, WALLET)
    body, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    for bad in (
        _swap_claims(token, wal="wal_" + "2" * 24),
        _swap_claims(token, exp=int((NOW + timedelta(days=3650)).timestamp())),
        f"{body}.{flipped}",
        f"{body}.",
        body,
        token + ".x",
        "",
        "%%%.%%%",
        "a" * 2000,
    ):
        with pytest.raises(InvalidLink):
            links().verify(bad)


def test_a_token_signed_with_another_secret_is_invalid() -> None:
    token, _ = links(secret="another-secret-of-enough-length").issue("tenant-a", INVOICE, WALLET)
    with pytest.raises(InvalidLink):
        links().verify(token)


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        PaymentLinks("short", FixedClock(NOW), "https://pay.example")


def test_the_qr_code_is_an_svg_data_uri() -> None:
    uri = qr_data_uri("https://pay.example/public/pay/abc.def")
    assert uri.startswith("data:image/svg+xml;charset=utf-8,%3Csvg")
    assert uri.endswith("%3C%2Fsvg%3E")
