"""The Tempo stand-in's HTTP surface: the /v1 routes documented in local/tempo/__init__.py and /_control/."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from local.providers_common.core import Operation, StandInCore
from local.providers_common.ledger import (
    LedgerError,
    bad_request,
    check_address,
    check_asset,
    rate_of,
)

MAX_KEY = 255


def _units(raw: Any, field: str = "amount") -> int:
    if not isinstance(raw, str) or not raw.isdigit() or int(raw) <= 0:
        raise bad_request(f"{field} must be a string of whole base units greater than 0")
    return int(raw)


def _transaction(operation: dict[str, Any], kind: str) -> dict[str, Any]:
    return {
        "id": "ttx_" + operation["hash"][2:26],
        "hash": operation["hash"],
        "status": "confirmed",
        "type": kind,
        "asset": operation["asset"],
        "amount": str(operation["amount"]),
        "from": operation.get("source"),
        "to": operation.get("to"),
        "block": operation["block"],
        "created_at": dt.datetime.fromtimestamp(operation["at"], dt.UTC).isoformat(),
    }


class TempoDialect:
    def authenticate(self, request: Request) -> str:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise LedgerError(401, "unauthorized", "a bearer API key is required")
        return key.strip()

    def idempotency_key(self, request: Request, body: dict[str, Any]) -> str | None:
        key = request.headers.get("idempotency-key")
        if key is None or not 1 <= len(key) <= MAX_KEY:
            raise bad_request("every POST needs an Idempotency-Key header of 1-255 characters")
        return key

    def fingerprint(self, request: Request, body: dict[str, Any]) -> str:
        return json.dumps({"path": request.url.path, "body": body}, sort_keys=True)

    def reuse_error(self, key: str) -> LedgerError:
        return LedgerError(
            422, "idempotency_key_reused", f"Idempotency-Key {key!r} was used for another request"
        )

    def render_error(self, error: LedgerError) -> dict[str, Any]:
        return {"error": {"code": error.code, "message": error.message}}


class TempoStandIn:
    def __init__(self, seed: int = 0) -> None:
        self.core = StandInCore(TempoDialect(), seed)
        api: list[tuple[str, str, Operation]] = [
            ("GET", "/v1/health", self._health),
            ("POST", "/v1/addresses", self._address),
            ("POST", "/v1/mints", self._mint),
            ("POST", "/v1/burns", self._burn),
            ("POST", "/v1/transfers/batch", self._batch),
            ("POST", "/v1/transfers", self._transfer),
            ("POST", "/v1/swaps", self._swap),
            ("GET", "/v1/balances/{address}", self._balance),
            ("GET", "/v1/supply/{asset}", self._supply),
        ]
        routes = [Route(path, self._endpoint(op), methods=[method]) for method, path, op in api]
        self.app = Starlette(routes=[*routes, *self.core.control_routes()])

    def _endpoint(self, operation: Operation) -> Any:
        async def endpoint(request: Request) -> Response:
            return await self.core.handle(request, operation)

        return endpoint

    def _health(self, body: dict[str, Any], request: Request) -> tuple[int, Any]:
        return 200, {
            "status": self.core.reported_status,
            "block_height": self.core.ledger.block,
            "tps": str(self.core.tps()),
            "error_rate": str(self.core.error_rate()),
        }

    def _address(self, body: dict[str, Any], request: Request) -> tuple[int, Any]:
        label = body.get("label")
        if not isinstance(label, str) or not 1 <= len(label) <= 200:
            raise bad_request("label must be a string of 1-200 characters")
        return 201, {"address": self.core.ledger.new_address(label), "label": label}

    def _mint(self, body: dict[str, Any], request: Request) -> tuple[int, Any]:
        asset, amount, to = (
            check_asset(body.get("asset")),
            _units(body.get("amount")),
            check_address(body.get("to")),
        )
        return 200, _transaction(self.core.ledger.mint(asset, amount, to), "mint")

    def _burn(self, body: dict[str, Any], request: Request) -> tuple[int, Any]:
        asset, amount = check_asset(body.get("asset")), _units(body.get("amount"))
        source = check_address(body.get("from"))
        return 200, _transaction(self.core.ledger.burn(asset, amount, source), "burn")

    def _transfer(self, body: dict[str, Any], request: Request) -> tuple[int, Any]:
        asset, amount = check_asset(body.get("asset")), _units(body.get("amount"))
        source, to = check_address(body.get("from")), check_address(body.get("to"))
        return 200, _transaction(self.core.ledger.transfer(asset, amount, source, to), "transfer")

    def _batch(self, body: dict[str, Any], request: Request) -> tuple[int, Any]:
        asset, source = check_asset(body.get("asset")), check_address(body.get("from"))
        legs = body.get("transfers")
        if not isinstance(legs, list) or not 1 <= len(legs) <= 100:
            raise bad_request("transfers must be a list of 1-100 {to, amount}")
        parsed = [
            (check_address(leg.get("to")), _units(leg.get("amount"), "transfers[].amount"))
            for leg in legs
            if isinstance(leg, dict)
        ]
        if len(parsed) != len(legs):
            raise bad_request("every transfer must be an object {to, amount}")
        return 200, _transaction(self.core.ledger.batch_transfer(asset, source, parsed), "batch_transfer")

    def _swap(self, body: dict[str, Any], request: Request) -> tuple[int, Any]:
        from_asset, to_asset = check_asset(body.get("from_asset")), check_asset(body.get("to_asset"))
        amount, address = _units(body.get("amount")), check_address(body.get("address"))
        operation = self.core.ledger.swap(from_asset, to_asset, amount, address)
        return 200, {
            "id": "tsw_" + operation["hash"][2:26],
            "hash": operation["hash"],
            "status": "confirmed",
            "from_asset": from_asset,
            "to_asset": to_asset,
            "amount_in": str(amount),
            "amount_out": str(operation["amount_out"]),
            "rate": str(rate_of(from_asset, to_asset)),
        }

    def _balance(self, body: dict[str, Any], request: Request) -> tuple[int, Any]:
        address = check_address(request.path_params["address"])
        asset = check_asset(request.query_params.get("asset"))
        return 200, {
            "address": address,
            "asset": asset,
            "amount": str(self.core.ledger.balance(address, asset)),
        }

    def _supply(self, body: dict[str, Any], request: Request) -> tuple[int, Any]:
        asset = check_asset(request.path_params["asset"])
        with self.core.ledger.lock:
            total = self.core.ledger.supply.get(asset, 0)
        return 200, {"asset": asset, "total_supply": str(total)}
