"""The money invariants after funding, checked against the table, the Stripe stand-in and the providers.

Each check compares independently kept books: the ledger's journals and running totals, the stand-ins'
own balances per address, and Stripe's own PaymentIntents and Refunds. `discrepancies` lists every
mismatch in words; an empty list is the pass.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from shared.adapters.dynamodb_ledger import DynamoDBLedger
from shared.ledger.accounts import Account
from tests.integration.conftest import TABLE, scan_all

_deserializer = TypeDeserializer()
# USDC has 6 decimals, USD 2: one cent is 10,000 base units.
UNITS_PER_CENT = 10_000


@dataclass
class Books:
    journals: int = 0
    wallets_checked: int = 0
    intents_charged: int = 0
    refunds: int = 0
    discrepancies: list[str] = field(default_factory=list)


def plain(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def check_books(
    dynamodb: Any, stripe_objects: dict[str, dict[str, Any]], chains: list[dict[str, Any]]
) -> Books:
    """`stripe_objects`: the Stripe stand-in's objects by id; `chains`: each provider's `/_control/state`."""
    books = Books()
    items = [plain(i) for i in scan_all(dynamodb)]
    ledger = DynamoDBLedger(dynamodb, TABLE)

    # 1. Every journal sums to zero, per asset.
    intake: dict[str, int] = defaultdict(int)
    for journal in (i for i in items if str(i["pk"]).startswith("LEDGER#JOURNAL#")):
        books.journals += 1
        sums: dict[str, int] = defaultdict(int)
        for entry in journal["entries"]:
            asset = str(entry["account"]).rsplit(":", 1)[1]
            sums[asset] += int(entry["amount"]) * (1 if entry["side"] == "debit" else -1)
            if journal["kind"] == "fund" and str(entry["account"]).startswith("reserve:"):
                intake[str(journal["references"].get("payment_intent_id", ""))] += int(entry["amount"])
            if journal["kind"] == "refund" and str(entry["account"]).startswith("reserve:"):
                # What a wallet held, sent back to the intent that funded it (burn, then Stripe refund).
                intake[str(journal["references"].get("payment_intent_id", ""))] -= int(entry["amount"])
        if any(sums.values()):
            books.discrepancies.append(f"journal {journal['pk']} does not sum to zero: {dict(sums)}")

    # 2. Per asset, tokens outstanding == fiat reserved (USDC against USD).
    totals = ledger.totals()
    usdc, usd = totals.get("USDC"), totals.get("USD")
    outstanding = usdc.tokens_outstanding if usdc else 0
    reserved = usd.fiat_reserved if usd else 0
    if outstanding != reserved * UNITS_PER_CENT:
        books.discrepancies.append(f"USDC outstanding {outstanding} != USD reserved {reserved} x 10^4")
    for code, asset_totals in totals.items():
        if asset_totals.imbalance:
            books.discrepancies.append(f"{code} debits - credits = {asset_totals.imbalance}")

    # 3. The ledger's wallet balances == what the providers hold at each wallet's address.
    held: dict[str, int] = defaultdict(int)
    for chain in chains:
        for address, assets in chain["balances"].items():
            held[address.lower()] += int(assets.get("USDC", 0))
    wallets = [i for i in items if str(i["pk"]).startswith("WALLET#") and i["sk"] == "META"]
    for wallet in wallets:
        books.wallets_checked += 1
        in_ledger = ledger.balance(Account.wallet(str(wallet["wallet_id"]), "USDC"))
        at_provider = held.get(str(wallet["evm_address"]).lower(), 0)
        if in_ledger != at_provider:
            books.discrepancies.append(
                f"{wallet['wallet_id']}: ledger {in_ledger} != providers {at_provider} at its address"
            )
    supply = sum(int(chain["supply"].get("USDC", 0)) for chain in chains)
    if supply != outstanding:
        books.discrepancies.append(f"providers' USDC supply {supply} != ledger outstanding {outstanding}")

    # 4. Per PaymentIntent: charged - refunded == what the ledger took into the reserve.
    refunded: dict[str, int] = defaultdict(int)
    for obj in stripe_objects.values():
        if obj.get("object") == "refund" and obj.get("status") == "succeeded":
            books.refunds += 1
            refunded[str(obj["payment_intent"])] += int(obj["amount"])
    intents = {k: v for k, v in stripe_objects.items() if v.get("object") == "payment_intent"}
    for intent_id, intent in intents.items():
        charged = int(intent.get("amount_received") or 0)
        books.intents_charged += 1 if charged else 0
        net = charged - refunded.get(intent_id, 0)
        if net != intake.get(intent_id, 0):
            books.discrepancies.append(
                f"{intent_id}: charged {charged} - refunded {refunded.get(intent_id, 0)} "
                f"!= ledger intake {intake.get(intent_id, 0)}"
            )
    for intent_id in set(intake) - set(intents):
        books.discrepancies.append(f"ledger took in {intent_id}, which Stripe never charged")
    return books
