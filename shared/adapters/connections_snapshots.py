"""DynamoDB adapter of WalletSnapshots: the wallet item as realtime subscribers may see it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.errors import DependencyUnavailable
from shared.money import CURRENCY_MINOR_UNITS, FIAT_DECIMALS, decimals_of, format_amount, minor_units
from shared.realtime.channels import may_view
from shared.realtime.ports import Viewer, WalletSnapshot


def _balance(value: Any, currency: str | None) -> str:
    """The balance as a decimal string; padded to the currency's places, never rounded."""
    amount = Decimal(str(value)) if value is not None else Decimal(0)
    fiat_places = minor_units(currency) if currency in CURRENCY_MINOR_UNITS else FIAT_DECIMALS
    return format_amount(amount, max(fiat_places, decimals_of(amount)))


def _moment(value: Any) -> datetime | None:
    """`expires_at` as written by the wallet issue: ISO-8601 text or epoch seconds."""
    if value is None or value == "":
        return None
    if isinstance(value, Decimal | int | float):
        return datetime.fromtimestamp(float(value), tz=UTC)
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _get(table: Any, key: dict[str, str]) -> dict[str, Any] | None:
    try:
        item: dict[str, Any] | None = table.get_item(Key=key).get("Item")
    except (BotoCoreError, ClientError) as exc:
        raise DependencyUnavailable("DynamoDB read failed") from exc
    return item


class DynamoWalletSnapshots:
    """Reads the wallet item (`WALLET#{id}` / `META`) and applies the contract's visibility rule."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def get(self, wallet_id: str, viewer: Viewer | None) -> WalletSnapshot | None:
        item = _get(self._table, {"pk": f"WALLET#{wallet_id}", "sk": "META"})
        if item is None or "tenant_id" not in item:
            return None
        snapshot = WalletSnapshot(
            wallet_id=wallet_id,
            tenant_id=str(item["tenant_id"]),
            customer_id=item.get("customer_id"),
            invoice_id=item.get("invoice_id"),
            status=str(item.get("status", "")),
            wallet_type=str(item.get("wallet_type", "")),
            balance=_balance(item.get("balance"), item.get("currency")),
            currency=item.get("currency"),
            expires_at=_moment(item.get("expires_at")),
        )
        if viewer is not None and not may_view(
            viewer, snapshot.tenant_id, snapshot.customer_id, snapshot.invoice_id
        ):
            return None
        return snapshot
