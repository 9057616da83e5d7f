"""The Circle stand-in's HTTP surface: the routes documented in local/circle/__init__.py and /_control/."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from local.providers_common.core import Operation, StandInCore
from local.providers_common.ledger import LedgerError, bad_request, check_address, rate_of

ASSET_OF_CURRENCY = {"USD": "USDC", "EUR": "EURC", "USDT": "USDT", "PYUSD": "PYUSD", "USDB": "USDB"}
CURRENCY_OF_ASSET = {asset: currency for currency, asset in ASSET_OF_CURRENCY.items()}
COIN_NAMES = {
    "USDC": "USD Coin",
    "EURC": "Euro Coin",
    "USDT": "Tether",
    "PYUSD": "PayPal USD",
    "USDB": "USDB",
}
CODES = {"invalid_request": 2, "not_found": 2, "unauthorized": 3, "insufficient_balance": 1091}
_API_KEY = re.compile(r"^(TEST|LIVE|SAND)_API_KEY:[^:\s]+:[^:\s]+$")
_UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
DECIMALS = 6


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _money(raw: Any, field: str = "amount") -> tuple[str, int]:
    """A Money object as (asset, base units)."""
    if not isinstance(raw, dict) or raw.get("currency") not in ASSET_OF_CURRENCY:
        raise bad_request(f"{field}.currency must be one of {', '.join(ASSET_OF_CURRENCY)}")
    text = raw.get("amount")
    try:
        amount = Decimal(text) if isinstance(text, str) else Decimal("NaN")
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite() or amount <= 0:
        raise bad_request(f"{field}.amount must be a positive decimal string")
    units = amount.scaleb(DECIMALS)
    if units != units.to_integral_value():
        raise bad_request(f"{field}.amount has more than {DECIMALS} decimals")
    return ASSET_OF_CURRENCY[raw["currency"]], int(units)


def _money_of(asset: str, units: int) -> dict[str, str]:
    text = f"{Decimal(units).scaleb(-DECIMALS):f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return {"amount": text, "currency": CURRENCY_OF_ASSET[asset]}


def _location(raw: Any, field: str) -> str:
    if not isinstance(raw, dict) or raw.get("type") != "blockchain":
        raise bad_request(f"{field} must be a blockchain location {{type, address, chain}}")
    return check_address(raw.get("address"))


class CircleDialect:
    def authenticate(self, request: Request) -> str:
        if request.url.path == "/ping":
            return ""
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not _API_KEY.fullmatch(key.strip()):
            raise LedgerError(401, "unauthorized", "Malformed or missing API key")
        return key.strip()

    def idempotency_key(self, request: Request, body: dict[str, Any]) -> str | None:
        key = body.get("idempotencyKey")
        if not isinstance(key, str) or not _UUID4.fullmatch(key):
            raise bad_request("Invalid entity. idempotencyKey must be a UUID v4")
        return key

    def fingerprint(self, request: Request, body: dict[str, Any]) -> str:
        rest = {k: v for k, v in body.items() if k != "idempotencyKey"}
        return json.dumps({"path": request.url.path, "body": rest}, sort_keys=True)

    def reuse_error(self, key: str) -> LedgerError:
        return LedgerError(
            409, "idempotency_key_reuse", "Idempotency key is already used with a different request"
        )

    def render_error(self, error: LedgerError) -> dict[str, Any]:
        return {"code": 1083 if error.status == 409 else CODES.get(error.code, -1), "message": error.message}


class CircleStandIn:
    def __init__(self, seed: int = 0, chain: str = "ETH") -> None:
        self.chain = chain
        self.core = StandInCore(CircleDialect(), seed)
        api: list[tuple[str, str, Operation]] = [
            ("GET", "/ping", self._ping),
            ("POST", "/v1/w3s/developer/wallets", self._wallets),
            ("POST", "/v1/businessAccount/transfers", self._mint),
            ("POST", "/v1/businessAccount/burns", self._burn),
            ("POST", "/v1/transfers/batch", self._batch),
            ("POST", "/v1/transfers", self._transfer),
            ("POST", "/v1/exchange/quotes", self._quote),
            ("POST", "/v1/exchange/trades", self._trade),
            ("GET", "/v1/w3s/addresses/{address}/balances", self._balances),
            ("GET", "/v1/stablecoins", self._stablecoins),
        ]
        routes = [Route(path, self._endpoint(op), methods=[method]) for method, path, op in api]
        self.app = Starlette(routes=[*routes, *self.core.control_routes()])

    def _endpoint(self, operation: Operation) -> Any:
        async def endpoint(request: Request) -> Response:
            return await self.core.handle(request, operation)

        return endpoint

    def _where(self, address: str) -> dict[str, str]:
        return {"type": "blockchain", "address": address, "chain": self.chain}

    def _transfer_data(self, operation: dict[str, Any], **locations: Any) -> dict[str, Any]:
        return {
            "id": str(uuid.uuid4()),
            **locations,
            "amount": _money_of(operation["asset"], operation["amount"]),
            "transactionHash": operation["hash"],
            "status": "complete",
            "createDate": _now(),
        }

    def _ping(self, body: dict[str, Any], request: Request) -> tuple[int, Any]:
        return 200, {"message": "pong"}

    def _wallets(self, body: dict[str, Any], request: Request) -> tuple[int, Any]:
        count = body.get("count", 1)
        if not isinstance(count, int) or not 1 <= count <= 20:
            raise bad_request("Invalid entity. count must be between 1 and 20")
        if not isinstance(body.get("walletSetId"), str):
            raise bad_request("Invalid entity. walletSetId may not be empty")
        metadata = body.get("metadata") or [{}] * count
        wallets = []
        for index in range(count):
            meta = metadata[index] if index < len(metadata) and isinstance(metadata[index], dict) else {}
            ref = str(meta.get("refId", ""))
            wallets.append(
                {
                    "id": str(uuid.uuid4()),
                    "address": self.core.ledger.new_address(ref),
                    "blockchain": self.chain,
                    "state": "LIVE",
                    "walletSetId": body["walletSetId"],
                    "refId": ref,
                    "name": str(meta.get("name", "")),
                    "accountType": "EOA",
                    "createDate": _now(),
                }
            )
        return 201, {"data": {"wallets": wallets}}

    def _mint(self, body: dict[str, Any], request: Request) -> tuple[int, Any]:
        to = _location(body.get("destination"), "destination")
        asset, units = _money(body.get("amount"))
        operation = self.core.ledger.mint(asset, units, to)
        source = {"type": "wallet", "id": "treasury"}
        return 201, {"data": self._transfer_data(operation, source=source, destination=self._where(to))}

    def _burn(self, body: dict[str, Any], request: Request) -> tuple[int, Any]:
        source = _location(body.get("source"), "source")
        asset, units = _money(body.get("amount"))
        operation = self.core.ledger.burn(asset, units, source)
        return 201, {"data": self._transfer_data(operation, source=self._where(source))}

    def _transfer(self, body: dict[str, Any], request: Request) -> tuple[int, Any]:
        source = _location(body.get("source"), "source")
        to = _location(body.get("destination"), "destination")
        asset, units = _money(body.get("amount"))
        operation = self.core.ledger.transfer(asset, units, source, to)
        return 201, {
            "data": self._transfer_data(operation, source=self._where(source), destination=self._where(to))
        }

    def _batch(self, body: dict[str, Any], request: Request) -> tuple[int, Any]:
        source = _location(body.get("source"), "source")
        legs = body.get("transfers")
        if not isinstance(legs, list) or not 1 <= len(legs) <= 100:
            raise bad_request("Invalid entity. transfers must hold 1-100 entries")
        parsed = [
            (_location(leg.get("destination"), "transfers[].destination"), *_money(leg.get("amount")))
            for leg in legs
            if isinstance(leg, dict)
        ]
        if len(parsed) != len(legs) or len({asset for _, asset, _ in parsed}) != 1:
            raise bad_request("Invalid entity. every transfer needs a destination and the same currency")
        asset = parsed[0][1]
        operation = self.core.ledger.batch_transfer(asset, source, [(to, units) for to, _, units in parsed])
        data = self._transfer_data(operation, source=self._where(source))
        data["transfers"] = [
            {"destination": self._where(to), "amount": _money_of(asset, units)} for to, _, units in parsed
        ]
        return 201, {"data": data}

    def _quote(self, body: dict[str, Any], request: Request) -> tuple[int, Any]:
        from_asset, units = _money(body.get("from"), "from")
        to = body.get("to")
        if not isinstance(to, dict) or to.get("currency") not in ASSET_OF_CURRENCY:
            raise bad_request("Invalid entity. to.currency is not supported")
        to_asset = ASSET_OF_CURRENCY[to["currency"]]
        if to_asset == from_asset:
            raise bad_request("Invalid entity. from and to currencies must differ")
        rate = rate_of(from_asset, to_asset)
        out = int(Decimal(units) * rate)
        quote = {
            "id": str(uuid.uuid4()),
            "rate": str(rate),
            "from": _money_of(from_asset, units),
            "to": _money_of(to_asset, out),
            "expiry": (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)).isoformat(),
            "type": "tradable",
        }
        with self.core.ledger.lock:
            self.core.ledger.quotes[quote["id"]] = {**quote, "used": False}
        return 201, {"data": quote}

    def _trade(self, body: dict[str, Any], request: Request) -> tuple[int, Any]:
        address = _location(body.get("destination"), "destination")
        with self.core.ledger.lock:
            quote = self.core.ledger.quotes.get(str(body.get("quoteId")))
            if quote is None:
                raise LedgerError(404, "not_found", "Quote not found")
            if quote["used"]:
                raise bad_request("Quote has already been traded")
            from_asset, units = _money(quote["from"])
            to_asset = ASSET_OF_CURRENCY[quote["to"]["currency"]]
            operation = self.core.ledger.swap(from_asset, to_asset, units, address)
            quote["used"] = True
        return 201, {
            "data": {
                "id": str(uuid.uuid4()),
                "quoteId": quote["id"],
                "from": quote["from"],
                "to": _money_of(to_asset, operation["amount_out"]),
                "status": "confirmed",
                "transactionHash": operation["hash"],
                "createDate": _now(),
            }
        }

    def _balances(self, body: dict[str, Any], request: Request) -> tuple[int, Any]:
        address = check_address(request.path_params["address"])
        with self.core.ledger.lock:
            held = {
                asset: units
                for (owner, asset), units in self.core.ledger.balances.items()
                if owner == address
            }
        balances = [
            {
                "token": {
                    "symbol": asset,
                    "name": COIN_NAMES[asset],
                    "decimals": DECIMALS,
                    "blockchain": self.chain,
                },
                "amount": _money_of(asset, units)["amount"],
                "updateDate": _now(),
            }
            for asset, units in sorted(held.items())
        ]
        return 200, {"data": {"tokenBalances": balances}}

    def _stablecoins(self, body: dict[str, Any], request: Request) -> tuple[int, Any]:
        with self.core.ledger.lock:
            supply = dict(self.core.ledger.supply)
        coins = [
            {
                "name": COIN_NAMES[asset],
                "symbol": asset,
                "totalAmount": _money_of(asset, supply.get(asset, 0))["amount"],
                "chains": [{"chain": self.chain, "amount": _money_of(asset, supply.get(asset, 0))["amount"]}],
            }
            for asset in COIN_NAMES
        ]
        return 200, {"data": coins}
