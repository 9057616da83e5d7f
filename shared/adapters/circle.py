"""StablecoinProvider over Circle's REST API (the fallback) with httpx, as local/circle speaks it.

Faithful to Circle where it matters for money: every mutation carries `idempotencyKey`, a UUID in v4 form
derived deterministically from the caller's key (so a retried mint is the same mint at Circle), amounts
are decimal strings in Money objects (`{"amount": "12.5", "currency": "USD"}`), answers come in a
`{"data": ...}` envelope and errors as `{"code": n, "message": ...}`. Mints are business-account
transfers to a blockchain address (`POST /v1/businessAccount/transfers`), swaps an FX quote then a trade,
supply is `GET /v1/stablecoins`, health `GET /ping`. Burns, address-to-address and batch transfers use
paths modelled in Circle's style (see local/circle); developer-controlled wallets need an entity secret
ciphertext on real Circle, which this adapter does not produce.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import httpx

from shared.adapters.tempo import exchange, probe
from shared.providers.errors import (
    IDEMPOTENCY_CONFLICT,
    INSUFFICIENT_FUNDS,
    INVALID_REQUEST,
)
from shared.providers.models import (
    CIRCLE,
    Asset,
    HealthSample,
    HealthStatus,
    ProviderTx,
    SwapResult,
    Transfer,
    from_decimal_string,
    to_decimal_string,
)
from shared.providers.retry import HttpAnswer, RetryPolicy, refuse, send_with_retries

# Fixed forever: changing it would give every retried request a new idempotency key.
IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1c2f3e-9b7a-5d24-8e51-4a0d3c7b9e12")
# Circle's currency codes: USDC is "USD" and EURC "EUR" in Circle Mint's Money objects.
CURRENCY = {Asset.USDC: "USD", Asset.EURC: "EUR"}
ASSET_OF_CURRENCY = {code: asset for asset, code in CURRENCY.items()}
# Error codes in Circle's `code` field that are not plain bad requests.
INSUFFICIENT_FUNDS_CODE = 1091
IDEMPOTENCY_REUSE_CODE = 1083


def circle_idempotency_key(caller_key: str, operation: str) -> str:
    """The caller's key as Circle's UUID: uuid5 for determinism, stamped v4 because Circle asks for v4."""
    derived = uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{operation}:{caller_key}")
    return str(uuid.UUID(bytes=derived.bytes, version=4))


def currency_of(asset: Asset) -> str:
    return CURRENCY.get(asset, asset.value)


def asset_of(currency: str) -> Asset:
    return ASSET_OF_CURRENCY.get(currency) or Asset(currency)


def money(asset: Asset, amount_minor: int) -> dict[str, str]:
    return {"amount": to_decimal_string(asset, amount_minor), "currency": currency_of(asset)}


class CircleProvider:
    """Circle, the fallback provider."""

    def __init__(
        self,
        client: httpx.Client,
        api_key: str,
        retry: RetryPolicy | None = None,
        wallet_set_id: str = "monay-wallets",
        chain: str = "ETH",
        health_timeout_s: float = 2.0,
        degraded_latency_ms: int = 1000,
    ) -> None:
        self._client = client
        self._auth = {"Authorization": f"Bearer {api_key}"}
        self._retry = retry or RetryPolicy()
        self._wallet_set_id = wallet_set_id
        self._chain = chain
        self._health_timeout = httpx.Timeout(health_timeout_s)
        self._degraded_latency_ms = degraded_latency_ms

    @property
    def name(self) -> str:
        return CIRCLE

    def _location(self, address: str) -> dict[str, str]:
        return {"type": "blockchain", "address": address, "chain": self._chain}

    def create_address(self, wallet_id: str) -> str:
        body = {
            "idempotencyKey": circle_idempotency_key(wallet_id, "address"),
            "walletSetId": self._wallet_set_id,
            "blockchains": [self._chain],
            "count": 1,
            "metadata": [{"name": wallet_id, "refId": wallet_id}],
        }
        data = self._post("/v1/w3s/developer/wallets", body)
        return str(data["wallets"][0]["address"])

    def mint(self, asset: Asset, amount_minor: int, to_address: str, idempotency_key: str) -> ProviderTx:
        body = {
            "idempotencyKey": circle_idempotency_key(idempotency_key, "mint"),
            "destination": self._location(to_address),
            "amount": money(asset, amount_minor),
        }
        return self._tx(self._post("/v1/businessAccount/transfers", body), asset, idempotency_key)

    def burn(self, asset: Asset, amount_minor: int, from_address: str, idempotency_key: str) -> ProviderTx:
        body = {
            "idempotencyKey": circle_idempotency_key(idempotency_key, "burn"),
            "source": self._location(from_address),
            "amount": money(asset, amount_minor),
        }
        return self._tx(self._post("/v1/businessAccount/burns", body), asset, idempotency_key)

    def transfer(
        self, asset: Asset, amount_minor: int, from_address: str, to_address: str, idempotency_key: str
    ) -> ProviderTx:
        body = {
            "idempotencyKey": circle_idempotency_key(idempotency_key, "transfer"),
            "source": self._location(from_address),
            "destination": self._location(to_address),
            "amount": money(asset, amount_minor),
        }
        return self._tx(self._post("/v1/transfers", body), asset, idempotency_key)

    def batch_transfer(
        self, asset: Asset, transfers: Sequence[Transfer], from_address: str, idempotency_key: str
    ) -> ProviderTx:
        body = {
            "idempotencyKey": circle_idempotency_key(idempotency_key, "batch_transfer"),
            "source": self._location(from_address),
            "transfers": [
                {"destination": self._location(t.to_address), "amount": money(asset, t.amount_minor)}
                for t in transfers
            ],
        }
        return self._tx(self._post("/v1/transfers/batch", body), asset, idempotency_key)

    def swap(
        self, from_asset: Asset, to_asset: Asset, amount_minor: int, address: str, idempotency_key: str
    ) -> SwapResult:
        # Two idempotent steps, both keyed from the caller's key: a retried swap finds the same quote
        # and therefore sends the same trade body under the same key.
        quote = self._post(
            "/v1/exchange/quotes",
            {
                "idempotencyKey": circle_idempotency_key(idempotency_key, "swap-quote"),
                "type": "tradable",
                "from": money(from_asset, amount_minor),
                "to": {"currency": currency_of(to_asset), "amount": None},
            },
        )
        trade = self._post(
            "/v1/exchange/trades",
            {
                "idempotencyKey": circle_idempotency_key(idempotency_key, "swap-trade"),
                "quoteId": quote["id"],
                "destination": self._location(address),
            },
        )
        return SwapResult(
            provider=CIRCLE,
            tx_id=str(trade["id"]),
            tx_hash=trade.get("transactionHash"),
            status=str(trade["status"]),
            from_asset=from_asset,
            to_asset=to_asset,
            amount_in_minor=from_decimal_string(from_asset, str(trade["from"]["amount"])),
            amount_out_minor=from_decimal_string(to_asset, str(trade["to"]["amount"])),
            rate=Decimal(str(quote["rate"])),
            idempotency_key=idempotency_key,
        )

    def balance(self, asset: Asset, address: str) -> int:
        data = self._get(f"/v1/w3s/addresses/{address}/balances")
        for entry in data.get("tokenBalances", []):
            if entry.get("token", {}).get("symbol") == asset.value:
                return from_decimal_string(asset, str(entry["amount"]))
        return 0

    def total_supply(self, asset: Asset) -> int:
        coins = self._get("/v1/stablecoins")
        for coin in coins:
            if coin.get("symbol") == asset.value:
                return from_decimal_string(asset, str(coin["totalAmount"]))
        return 0

    def health(self) -> HealthSample:
        answer, latency, problem = probe(
            lambda: exchange(self._client, "GET", "/ping", timeout=self._health_timeout)
        )
        if answer is None or not isinstance(answer.body, dict) or answer.body.get("message") != "pong":
            return HealthSample(HealthStatus.DOWN, latency, error=problem or "unexpected ping answer")
        if latency > self._degraded_latency_ms:
            return HealthSample(HealthStatus.DEGRADED, latency, error=f"slow: {latency} ms")
        return HealthSample(HealthStatus.HEALTHY, latency)

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        # The body (with its idempotencyKey) is built once; every retry sends it unchanged.
        answer = send_with_retries(
            CIRCLE, lambda: exchange(self._client, "POST", path, json=body, headers=self._auth), self._retry
        )
        return self._data(answer)

    def _get(self, path: str) -> Any:
        answer = send_with_retries(
            CIRCLE, lambda: exchange(self._client, "GET", path, headers=self._auth), self._retry
        )
        return self._data(answer)

    def _data(self, answer: HttpAnswer) -> Any:
        body = answer.body if isinstance(answer.body, dict) else {}
        if 200 <= answer.status < 300 and "data" in body:
            return body["data"]
        message = str(body.get("message", f"HTTP {answer.status}"))
        raw_code = body.get("code")
        code = raw_code if isinstance(raw_code, int) else 0
        reason = {INSUFFICIENT_FUNDS_CODE: INSUFFICIENT_FUNDS, IDEMPOTENCY_REUSE_CODE: IDEMPOTENCY_CONFLICT}
        refuse(CIRCLE, answer.status, message, reason.get(code, INVALID_REQUEST))

    @staticmethod
    def _tx(data: dict[str, Any], asset: Asset, idempotency_key: str) -> ProviderTx:
        return ProviderTx(
            provider=CIRCLE,
            tx_id=str(data["id"]),
            tx_hash=data.get("transactionHash"),
            status=str(data["status"]),
            asset=asset,
            amount_minor=from_decimal_string(
                asset_of(str(data["amount"]["currency"])), str(data["amount"]["amount"])
            ),
            idempotency_key=idempotency_key,
        )
