"""StablecoinProvider over Tempo's JSON REST API (documented in local/tempo), with httpx.

Amounts travel as integer strings of base units (6 decimals), the caller's idempotency key as the
`Idempotency-Key` header of every POST, so a retried mint is the same mint.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from shared.providers.errors import (
    IDEMPOTENCY_CONFLICT,
    INSUFFICIENT_FUNDS,
    INVALID_REQUEST,
)
from shared.providers.models import TEMPO, Asset, HealthSample, HealthStatus, ProviderTx, SwapResult, Transfer
from shared.providers.retry import HttpAnswer, RetryPolicy, TransportFailure, refuse, send_with_retries

DEFAULT_TIMEOUT = httpx.Timeout(connect=2.0, read=5.0, write=5.0, pool=2.0)
_REASONS = {
    "insufficient_balance": INSUFFICIENT_FUNDS,
    "idempotency_key_reused": IDEMPOTENCY_CONFLICT,
}


def http_client(base_url: str, timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> httpx.Client:
    """One pooled client per adapter, created at module level by the composition and reused warm."""
    return httpx.Client(base_url=base_url, timeout=timeout, headers={"User-Agent": "monay-wallets"})


def exchange(client: httpx.Client, method: str, path: str, **kwargs: Any) -> HttpAnswer:
    """One HTTP exchange as an HttpAnswer; no answer at all is TransportFailure (retryable)."""
    try:
        response = client.request(method, path, **kwargs)
    except httpx.TimeoutException as exc:
        raise TransportFailure(f"timeout ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        raise TransportFailure(f"connection failed ({type(exc).__name__})") from exc
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    return HttpAnswer(response.status_code, body, _retry_after(response.headers.get("retry-after")))


def _retry_after(raw: str | None) -> float | None:
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def probe(send: Callable[[], HttpAnswer]) -> tuple[HttpAnswer | None, int, str | None]:
    """One timed attempt for a health check: (answer or None, latency in ms, problem)."""
    started = time.perf_counter()
    try:
        answer = send()
    except TransportFailure as exc:
        return None, int((time.perf_counter() - started) * 1000), str(exc)
    latency = int((time.perf_counter() - started) * 1000)
    if answer.status >= 400:
        return None, latency, f"HTTP {answer.status}"
    return answer, latency, None


class TempoProvider:
    """Tempo, the primary provider."""

    def __init__(
        self,
        client: httpx.Client,
        api_key: str,
        retry: RetryPolicy | None = None,
        health_timeout_s: float = 2.0,
        degraded_latency_ms: int = 1000,
    ) -> None:
        self._client = client
        self._auth = {"Authorization": f"Bearer {api_key}"}
        self._retry = retry or RetryPolicy()
        self._health_timeout = httpx.Timeout(health_timeout_s)
        self._degraded_latency_ms = degraded_latency_ms

    @property
    def name(self) -> str:
        return TEMPO

    def create_address(self, wallet_id: str) -> str:
        body = self._post("/v1/addresses", {"label": wallet_id}, f"address:{wallet_id}")
        return str(body["address"])

    def mint(self, asset: Asset, amount_minor: int, to_address: str, idempotency_key: str) -> ProviderTx:
        body = {"asset": asset.value, "amount": str(amount_minor), "to": to_address}
        return self._tx(self._post("/v1/mints", body, idempotency_key), asset, idempotency_key)

    def burn(self, asset: Asset, amount_minor: int, from_address: str, idempotency_key: str) -> ProviderTx:
        body = {"asset": asset.value, "amount": str(amount_minor), "from": from_address}
        return self._tx(self._post("/v1/burns", body, idempotency_key), asset, idempotency_key)

    def transfer(
        self, asset: Asset, amount_minor: int, from_address: str, to_address: str, idempotency_key: str
    ) -> ProviderTx:
        body = {"asset": asset.value, "amount": str(amount_minor), "from": from_address, "to": to_address}
        return self._tx(self._post("/v1/transfers", body, idempotency_key), asset, idempotency_key)

    def batch_transfer(
        self, asset: Asset, transfers: Sequence[Transfer], from_address: str, idempotency_key: str
    ) -> ProviderTx:
        body = {
            "asset": asset.value,
            "from": from_address,
            "transfers": [{"to": t.to_address, "amount": str(t.amount_minor)} for t in transfers],
        }
        return self._tx(self._post("/v1/transfers/batch", body, idempotency_key), asset, idempotency_key)

    def swap(
        self, from_asset: Asset, to_asset: Asset, amount_minor: int, address: str, idempotency_key: str
    ) -> SwapResult:
        body = {
            "from_asset": from_asset.value,
            "to_asset": to_asset.value,
            "amount": str(amount_minor),
            "address": address,
        }
        answer = self._post("/v1/swaps", body, idempotency_key)
        return SwapResult(
            provider=TEMPO,
            tx_id=str(answer["id"]),
            tx_hash=answer.get("hash"),
            status=str(answer["status"]),
            from_asset=from_asset,
            to_asset=to_asset,
            amount_in_minor=int(answer["amount_in"]),
            amount_out_minor=int(answer["amount_out"]),
            rate=Decimal(str(answer["rate"])),
            idempotency_key=idempotency_key,
        )

    def balance(self, asset: Asset, address: str) -> int:
        body = self._get(f"/v1/balances/{address}", {"asset": asset.value})
        return int(body["amount"])

    def total_supply(self, asset: Asset) -> int:
        return int(self._get(f"/v1/supply/{asset.value}", None)["total_supply"])

    def health(self) -> HealthSample:
        answer, latency, problem = probe(
            lambda: exchange(
                self._client, "GET", "/v1/health", headers=self._auth, timeout=self._health_timeout
            )
        )
        if answer is None or not isinstance(answer.body, dict):
            return HealthSample(HealthStatus.DOWN, latency, error=problem or "unreadable health answer")
        reported = answer.body.get("status")
        slow = latency > self._degraded_latency_ms
        status = HealthStatus.HEALTHY if reported == "ok" and not slow else HealthStatus.DEGRADED
        if reported not in ("ok", "degraded"):
            status = HealthStatus.DOWN
        return HealthSample(
            status,
            latency,
            tps=_decimal(answer.body.get("tps")),
            error_rate=_decimal(answer.body.get("error_rate")),
            error=None if status is HealthStatus.HEALTHY else f"reported {reported}, {latency} ms",
        )

    def _post(self, path: str, body: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        headers = {**self._auth, "Idempotency-Key": idempotency_key}
        # The closure sends the very same body and key on every attempt.
        answer = send_with_retries(
            TEMPO, lambda: exchange(self._client, "POST", path, json=body, headers=headers), self._retry
        )
        return self._accepted(answer)

    def _get(self, path: str, params: dict[str, str] | None) -> dict[str, Any]:
        answer = send_with_retries(
            TEMPO,
            lambda: exchange(self._client, "GET", path, params=params, headers=self._auth),
            self._retry,
        )
        return self._accepted(answer)

    def _accepted(self, answer: HttpAnswer) -> dict[str, Any]:
        if 200 <= answer.status < 300 and isinstance(answer.body, dict):
            return answer.body
        error = (answer.body or {}).get("error") if isinstance(answer.body, dict) else None
        code = str((error or {}).get("code", ""))
        message = str((error or {}).get("message", f"HTTP {answer.status}"))
        refuse(TEMPO, answer.status, message, _REASONS.get(code, INVALID_REQUEST))

    @staticmethod
    def _tx(body: dict[str, Any], asset: Asset, idempotency_key: str) -> ProviderTx:
        return ProviderTx(
            provider=TEMPO,
            tx_id=str(body["id"]),
            tx_hash=body.get("hash"),
            status=str(body["status"]),
            asset=asset,
            amount_minor=int(body["amount"]),
            idempotency_key=idempotency_key,
        )


def _decimal(raw: Any) -> Decimal | None:
    if raw is None or isinstance(raw, bool | float):
        return None
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None
