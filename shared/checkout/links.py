"""Payment links: `/public/pay/{token}` tokens signed with HMAC-SHA256, carrying invoice and wallet ids.
Payroll claim links (`/public/claim/{token}`, shared/payouts/payroll.py) are the same tokens under their own
signing domain and path, so neither kind of token is ever accepted as the other.

A token is `base64url(JSON claims) "." base64url(HMAC-SHA256(secret, "pl1." + claims part))`. The claims
name the tenant, invoice and wallet and an expiry (epoch seconds, 30 days after issue). Verification
recomputes the MAC and compares in constant time before it reads any claim.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.clock import Clock
from shared.errors import InvalidLink

LINK_LIFETIME = timedelta(days=30)
MAX_TOKEN_LENGTH = 1024
_DOMAIN = b"pl1."
_PART = re.compile(r"^[A-Za-z0-9_-]+$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@|+-]{0,127}$")


@dataclass(frozen=True)
class LinkClaims:
    tenant_id: str
    invoice_id: str
    wallet_id: str
    expires_at: datetime


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class PaymentLinks:
    def __init__(
        self,
        secret: str | bytes,
        clock: Clock,
        base_url: str,
        *,
        domain: bytes = _DOMAIN,
        path: str = "/public/pay/",
    ) -> None:
        key = secret.encode("utf-8") if isinstance(secret, str) else secret
        if len(key) < 16:
            raise ValueError("the payment-link secret must be at least 16 bytes")
        self._key = key
        self._clock = clock
        self._base_url = base_url.rstrip("/")
        self._domain = domain
        self._path = path

    def issue(
        self, tenant_id: str, invoice_id: str, wallet_id: str, expires_at: datetime | None = None
    ) -> tuple[str, datetime]:
        """A token for the invoice's wallet and the instant it stops working (30 days unless given)."""
        expires_at = (expires_at or self._clock.now() + LINK_LIFETIME).replace(microsecond=0)
        claims = {"t": tenant_id, "inv": invoice_id, "wal": wallet_id, "exp": int(expires_at.timestamp())}
        body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode("utf-8"))
        return f"{body}.{_b64(self._mac(body))}", expires_at

    def url(self, token: str) -> str:
        return f"{self._base_url}{self._path}{token}"

    def verify(self, token: str) -> LinkClaims:
        """The token's claims, or InvalidLink when it is malformed, tampered with or expired."""
        if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1:
            raise InvalidLink("the payment link is invalid")
        body, signature = token.split(".")
        if not (_PART.fullmatch(body) and _PART.fullmatch(signature)):
            raise InvalidLink("the payment link is invalid")
        try:
            given = _unb64(signature)
        except (binascii.Error, ValueError) as exc:
            raise InvalidLink("the payment link is invalid") from exc
        if not hmac.compare_digest(given, self._mac(body)):
            raise InvalidLink("the payment link is invalid")
        claims = self._claims(body)
        if self._clock.now() >= claims.expires_at:
            raise InvalidLink("the payment link has expired")
        return claims

    def _mac(self, body: str) -> bytes:
        return hmac.new(self._key, self._domain + body.encode("ascii"), hashlib.sha256).digest()

    @staticmethod
    def _claims(body: str) -> LinkClaims:
        try:
            raw = json.loads(_unb64(body))
        except (binascii.Error, ValueError) as exc:
            raise InvalidLink("the payment link is invalid") from exc
        if not isinstance(raw, dict) or set(raw) != {"t", "inv", "wal", "exp"}:
            raise InvalidLink("the payment link is invalid")
        ids = (raw["t"], raw["inv"], raw["wal"])
        if not all(isinstance(part, str) and _ID.fullmatch(part) for part in ids):
            raise InvalidLink("the payment link is invalid")
        if isinstance(raw["exp"], bool) or not isinstance(raw["exp"], int):
            raise InvalidLink("the payment link is invalid")
        expires_at = datetime.fromtimestamp(raw["exp"], tz=UTC)
        return LinkClaims(raw["t"], raw["inv"], raw["wal"], expires_at)


def qr_data_uri(text: str) -> str:
    """An SVG QR code of `text` as a data URI."""
    import segno  # deferred: only the create-wallet path draws codes

    return str(segno.make(text, error="m").svg_data_uri(scale=4))
