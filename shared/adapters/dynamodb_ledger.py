"""The ledger on the one table: journal, account balances, statement lines and totals in one transaction.

Items (docs/DESIGN.md): `LEDGER#JOURNAL#{id}`/`JOURNAL`; `LEDGER#ACCOUNT#{type:owner:asset}`/`BALANCE`
for wallets, settlements and fees, and their statement lines `ENTRY#{iso}#{jrn}` (gsi1
`LEDGER#OWNER#{type:owner}` for a wallet's history across assets); the running totals in shards
`LEDGER#TOTALS#{00..99}`/`SHARD` (shared/ledger/shards.py): per asset its counters (`USDC#minted`), per
platform account (reserve, supply, outside world) its balance (`reserve:fiat:USD#balance`).

No unsharded running totals (`LEDGER#TOTALS`/`ASSET#{asset}`, or a `BALANCE` item of a reserve, supply or
outside-world account) exist anywhere, so nothing here reads them: the ledger has never been deployed,
and the local runtime's table lives in memory and starts empty on every run.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from shared.adapters.dynamodb_cursor import decode_cursor, encode_cursor
from shared.adapters.dynamodb_events import transact_write
from shared.adapters.dynamodb_table import failed_conditions, from_item, to_item, translated_errors, value
from shared.config import get_settings
from shared.errors import ConcurrentUpdate, DependencyUnavailable, InsufficientBalance
from shared.ledger.accounts import Account, AccountType, Side
from shared.ledger.journal import MAX_TRANSACT_OPERATIONS, Entry, InvalidJournal, Journal, JournalKind
from shared.ledger.ports import PostOutcome, StatementLine, StatementPage
from shared.ledger.reserve import LedgerSnapshot
from shared.ledger.shards import MAX_SHARDS, ShardTotals, shard_of, sum_shards
from shared.ledger.totals import COUNTER_NAMES, AssetTotals
from shared.outbox.records import iso

SHARD_PK_PREFIX = "LEDGER#TOTALS#"
_LEDGER_PREFIX = "LEDGER#"
_BALANCE = "balance"
_random = secrets.SystemRandom()
_MAX_BATCH_GET = 100


def journal_key(journal_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"LEDGER#JOURNAL#{journal_id}"}, "sk": {"S": "JOURNAL"}}


def account_pk(account: Account) -> str:
    return f"LEDGER#ACCOUNT#{account.key}"


def account_key(account: Account) -> dict[str, Any]:
    return {"pk": {"S": account_pk(account)}, "sk": {"S": "BALANCE"}}


def owner_pk(account_type: AccountType, owner: str) -> str:
    return f"LEDGER#OWNER#{account_type.value}:{owner}"


def shard_key(shard: int) -> dict[str, Any]:
    return {"pk": {"S": f"{SHARD_PK_PREFIX}{shard:02d}"}, "sk": {"S": "SHARD"}}


def shard_attribute(owner: str, counter: str) -> str:
    """A shard item's attribute: `{asset}#{counter}` or `{account key}#balance` (neither contains '#')."""
    return f"{owner}#{counter}"


def _backoff(attempt: int) -> None:
    time.sleep(_random.uniform(0, min(0.1, 0.004 * 2**attempt)))


class DynamoDBLedger:
    """LedgerStore on DynamoDB. Transaction conflicts with no lost condition are retried here (the same
    transaction re-evaluates every condition); anything else goes back to the caller, mapped."""

    def __init__(
        self,
        client: Any,
        table_name: str,
        *,
        shards: int | None = None,
        max_attempts: int = 8,
        backoff: Callable[[int], None] = _backoff,
    ) -> None:
        """`shards`: how many running-totals shards postings spread over (LEDGER_SHARDS by default)."""
        self._client = client
        self._table = table_name
        self._shards = get_settings().ledger_shards if shards is None else shards
        if not 1 <= self._shards <= MAX_SHARDS:
            raise ValueError(f"shards must be 1..{MAX_SHARDS}, got {self._shards}")
        self._max_attempts = max_attempts
        self._backoff = backoff

    # -- writing -----------------------------------------------------------------------------------

    def journal_operations(self, journal: Journal) -> list[dict[str, Any]]:
        """The TransactWriteItems operations that post `journal`: its item (never twice), one guarded
        update per account with an item of its own, its statement lines, and one update of its shard of
        the running totals (every asset's counters, every platform account's balance)."""
        created = iso(journal.created_at)
        operations: list[dict[str, Any]] = [self._journal_put(journal, created)]
        operations += [self._account_update(journal, entry, created) for entry in _own_item_entries(journal)]
        operations += [self._statement_put(journal, entry, created) for entry in journal.statement_entries()]
        operations.append(self._shard_update(journal, created))
        return operations

    def shard_of(self, journal: Journal) -> int:
        return shard_of(journal.id, self._shards)

    def post(self, journal: Journal, also: Sequence[dict[str, Any]] = ()) -> PostOutcome:
        """Commit `also` (raw TransactWriteItems operations on this table) and `journal` together."""
        ledger_ops = self.journal_operations(journal)
        operations = [*also, *ledger_ops]
        if len(operations) > MAX_TRANSACT_OPERATIONS:
            raise InvalidJournal(
                f"{len(operations)} operations ({len(also)} of the caller's): one transaction holds "
                f"{MAX_TRANSACT_OPERATIONS}"
            )
        self._refuse_shared_items(also, ledger_ops)
        for attempt in range(self._max_attempts):
            try:
                with translated_errors():
                    try:
                        transact_write(self._client, operations)
                    except ClientError as exc:
                        self._raise_cancellation(exc, journal, len(also))
                        raise
            except _AlreadyPosted:
                self._same_as_stored(journal)
                return PostOutcome.ALREADY_POSTED
            except _Collision:
                self._backoff(attempt)
                continue
            return PostOutcome.POSTED
        raise ConcurrentUpdate("the ledger is busy with concurrent postings; retry")

    def _raise_cancellation(self, exc: ClientError, journal: Journal, offset: int) -> None:
        """Map a cancelled transaction by which operation failed; other errors pass through untouched.

        Operations are the caller's `offset` ones, then the journal put, then one update per entry with
        an item of its own (the only guarded ones), then statement lines and the shard (no conditions).
        """
        if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
            return
        reasons = [reason.get("Code") or "None" for reason in exc.response.get("CancellationReasons", [])]
        failed = failed_conditions(exc)
        if offset in failed:
            # The journal exists: this is a retry, and the first attempt committed everything with it.
            raise _AlreadyPosted from exc
        if any(index < offset for index in failed):
            raise ConcurrentUpdate("the state this journal goes with changed; read it again") from exc
        own = _own_item_entries(journal)
        first_account, after_accounts = offset + 1, offset + 1 + len(own)
        short = [own[i - first_account] for i in sorted(failed) if first_account <= i < after_accounts]
        if short:
            details = [
                {"field": "account", "message": e.account.key, "type": "insufficient_balance"} for e in short
            ]
            raise InsufficientBalance("insufficient balance", details) from exc
        if failed:
            raise ConcurrentUpdate("a ledger item changed concurrently; retry") from exc
        if reasons and all(code in ("None", "TransactionConflict") for code in reasons):
            raise _Collision("concurrent transactions on the same accounts") from exc
        raise DependencyUnavailable("the table refused the ledger transaction; retry") from exc

    def _same_as_stored(self, journal: Journal) -> None:
        stored = self.journal(journal.id)
        if stored is None or set(stored.entries) != set(journal.entries) or stored.kind != journal.kind:
            raise InvalidJournal(f"journal id {journal.id} was already posted with other entries")

    def _refuse_shared_items(self, also: Sequence[dict[str, Any]], ledger_ops: list[dict[str, Any]]) -> None:
        def keys(ops: Sequence[dict[str, Any]]) -> set[tuple[str, str]]:
            found = set()
            for op in ops:
                body = next(iter(op.values()))
                key = body.get("Key") or body.get("Item") or {}
                found.add((key.get("pk", {}).get("S", ""), key.get("sk", {}).get("S", "")))
            return found

        theirs = keys(also)
        # Any ledger item, not only this journal's: another shard or account is just as much the ledger's.
        if theirs & keys(ledger_ops) or any(pk.startswith(_LEDGER_PREFIX) for pk, _ in theirs):
            raise InvalidJournal("the caller's operations touch ledger items; only the ledger writes those")

    def _journal_put(self, journal: Journal, created: str) -> dict[str, Any]:
        item = {
            **from_item(journal_key(journal.id)),
            "entity": "ledger_journal",
            "journal_id": journal.id,
            "kind": journal.kind.value,
            "entries": [
                {"account": e.account.key, "side": e.side.value, "amount": e.amount} for e in journal.entries
            ],
            "assets": journal.assets,
            "references": dict(journal.references),
            "created_at": created,
        }
        return {
            "Put": {
                "TableName": self._table,
                "Item": to_item(item),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def _account_update(self, journal: Journal, entry: Entry, created: str) -> dict[str, Any]:
        # Kept short on purpose: this runs once per entry of every posting. Type, owner and asset are
        # all in `account` (and the pk); `updated_at`/`last_journal_id` say what moved it last.
        account = entry.account
        side_total = "#debits" if entry.side is Side.DEBIT else "#credits"
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": account_key(account),
            "UpdateExpression": (
                "SET #balance = if_not_exists(#balance, :zero) + :change, #account = :account, "
                f"#updated = :now, #last = :journal ADD {side_total} :amount"
            ),
            "ExpressionAttributeNames": {
                "#balance": "balance",
                "#account": "account",
                "#updated": "updated_at",
                "#last": "last_journal_id",
                side_total: side_total[1:],
            },
            "ExpressionAttributeValues": {
                ":zero": value(0),
                ":change": value(entry.balance_change),
                ":amount": value(entry.amount),
                ":account": value(account.key),
                ":now": value(created),
                ":journal": value(journal.id),
            },
        }
        if account.type.guarded and entry.balance_change < 0:
            # A missing balance fails the comparison too: an account never credited cannot be drawn on.
            update["ConditionExpression"] = "#balance >= :amount"
        return {"Update": update}

    def _statement_put(self, journal: Journal, entry: Entry, created: str) -> dict[str, Any]:
        account = entry.account
        item = {
            "pk": account_pk(account),
            "sk": f"ENTRY#{created}#{journal.id}",
            "gsi1pk": owner_pk(account.type, account.owner),
            "gsi1sk": f"{created}#{journal.id}#{account.asset}",
            "entity": "ledger_line",
            "journal_id": journal.id,
            "kind": journal.kind.value,
            "account": account.key,
            "side": entry.side.value,
            "amount": entry.amount,
            "balance_change": entry.balance_change,
            "references": dict(journal.references),
            "created_at": created,
        }
        return {
            "Put": {
                "TableName": self._table,
                "Item": to_item(item),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def _shard_update(self, journal: Journal, created: str) -> dict[str, Any]:
        """ADD the journal's whole effect on the running totals to its one shard. No condition: the guards
        are on the accounts' own items (`AccountType.guarded` says why a shard cannot carry one)."""
        delta = ShardTotals.of(journal)
        amounts = {
            shard_attribute(code, name): amount
            for code, totals in sorted(delta.totals.items())
            for name, amount in totals.counters().items()
            if amount
        }
        amounts |= {shard_attribute(a.key, _BALANCE): change for a, change in sorted(delta.balances.items())}
        names = {f"#c{n}": name for n, name in enumerate(amounts)}
        values = {f":c{n}": value(amount) for n, amount in enumerate(amounts.values())}
        names |= {"#entity": "entity", "#updated": "updated_at"}
        values |= {":entity": value("ledger_totals_shard"), ":now": value(created)}
        adds = ", ".join(f"#c{n} :c{n}" for n in range(len(amounts)))
        return {
            "Update": {
                "TableName": self._table,
                "Key": shard_key(self.shard_of(journal)),
                "UpdateExpression": f"SET #entity = :entity, #updated = :now ADD {adds}",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    # -- reading -----------------------------------------------------------------------------------

    def balance(self, account: Account) -> int:
        return self.balances([account])[account]

    def balances(self, accounts: Sequence[Account]) -> dict[Account, int]:
        wanted = list(dict.fromkeys(accounts))
        own = [account for account in wanted if not account.type.sharded]
        found: dict[str, int] = {}
        for start in range(0, len(own), _MAX_BATCH_GET):
            keys = [account_key(account) for account in own[start : start + _MAX_BATCH_GET]]
            for item in self._batch_get(keys):
                found[item["pk"]["S"]] = int(item["balance"]["N"])
        balances = {account: found.get(account_pk(account), 0) for account in own}
        if len(own) < len(wanted):
            summed = self._running_totals().balances
            balances |= {account: summed.get(account, 0) for account in wanted if account.type.sharded}
        return {account: balances[account] for account in wanted}

    def _batch_get(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Strongly consistent items of up to 100 keys: one BatchGetItem, more only for unprocessed keys."""
        items: list[dict[str, Any]] = []
        request = {self._table: {"Keys": keys, "ConsistentRead": True}}
        while request:
            with translated_errors():
                response = self._client.batch_get_item(RequestItems=request)
            items += response.get("Responses", {}).get(self._table, [])
            request = response.get("UnprocessedKeys") or {}
        return items

    def _running_totals(self) -> ShardTotals:
        """Every shard summed, from one BatchGetItem of all MAX_SHARDS slots whatever LEDGER_SHARDS is now:
        a count lowered since, or functions deployed with different counts during a rollout, hide nothing.

        Not a transactional read, and it need not be: each posting lands wholly in one shard item, so the
        items read, each at its own moment, add up to a set of whole postings (shared/ledger/shards.py).
        That also spares the reconciliation the transaction conflicts a TransactGetItems over the busiest
        items would meet."""
        return sum_shards(_shard(item) for item in self._batch_get([shard_key(n) for n in range(MAX_SHARDS)]))

    def journal(self, journal_id: str) -> Journal | None:
        with translated_errors():
            response = self._client.get_item(
                TableName=self._table, Key=journal_key(journal_id), ConsistentRead=True
            )
        item = response.get("Item")
        if not item:
            return None
        values = from_item(item)
        entries = tuple(
            Entry(Account.parse(e["account"]), Side(e["side"]), int(e["amount"])) for e in values["entries"]
        )
        return Journal(
            values["journal_id"],
            JournalKind(values["kind"]),
            entries,
            datetime.fromisoformat(values["created_at"]),
            values.get("references") or {},
        )

    def totals(self) -> dict[str, AssetTotals]:
        return dict(self._running_totals().totals)

    def reserve_snapshot(self) -> LedgerSnapshot:
        """Every asset's counters and its reserve/supply balance: one read, whatever the wallets or shards."""
        return self._running_totals().snapshot()

    def statement(self, account: Account, limit: int, cursor: str | None = None) -> StatementPage:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :entry)",
            "ExpressionAttributeValues": {":pk": {"S": account_pk(account)}, ":entry": {"S": "ENTRY#"}},
            "ScanIndexForward": False,
            "ConsistentRead": True,
        }
        return self._page(request, ("pk", "sk"), account_pk(account), limit, cursor)

    def wallet_history(self, wallet_id: str, limit: int, cursor: str | None = None) -> StatementPage:
        partition = owner_pk(AccountType.WALLET, wallet_id)
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": partition}},
            "ScanIndexForward": False,
        }
        return self._page(request, ("pk", "sk", "gsi1pk", "gsi1sk"), partition, limit, cursor)

    def _page(
        self,
        request: dict[str, Any],
        key_names: tuple[str, ...],
        partition: str,
        limit: int,
        cursor: str | None,
    ) -> StatementPage:
        if not 1 <= limit <= 100:
            raise ValueError("limit must be 1..100")
        if cursor:
            request["ExclusiveStartKey"] = _decode_cursor(cursor, key_names, partition)
        # One extra line tells whether another page exists without a second round trip.
        request["Limit"] = limit + 1
        with translated_errors():
            response = self._client.query(**request)
        items = response.get("Items", [])
        page, more = items[:limit], len(items) > limit
        next_cursor = encode_cursor(page[-1], key_names) if more and page else None
        return StatementPage([_line(item) for item in page], next_cursor)


class _Collision(ConcurrentUpdate):
    """Only transaction conflicts cancelled the post: the same transaction may simply run again."""


class _AlreadyPosted(Exception):
    """The journal item's condition failed: its id is taken."""


def _own_item_entries(journal: Journal) -> list[Entry]:
    """The entries whose account has an item of its own (the rest live in the journal's shard)."""
    return [entry for entry in journal.entries if not entry.account.type.sharded]


def _shard(item: dict[str, Any]) -> ShardTotals:
    counters: dict[str, dict[str, int]] = {}
    balances: dict[Account, int] = {}
    for name, attribute in item.items():
        owner, _, counter = name.rpartition("#")
        if counter == _BALANCE and ":" in owner:
            balances[Account.parse(owner)] = int(attribute["N"])
        elif counter in COUNTER_NAMES and owner:
            counters.setdefault(owner, {})[counter] = int(attribute["N"])
    return ShardTotals({code: AssetTotals(code, **values) for code, values in counters.items()}, balances)


def _line(item: dict[str, Any]) -> StatementLine:
    values = from_item(item)
    return StatementLine(
        journal_id=values["journal_id"],
        kind=JournalKind(values["kind"]),
        account=Account.parse(values["account"]),
        side=Side(values["side"]),
        amount=int(values["amount"]),
        balance_change=int(values["balance_change"]),
        created_at=datetime.fromisoformat(values["created_at"]),
        references=values.get("references") or {},
    )


def _decode_cursor(cursor: str, key_names: tuple[str, ...], partition: str) -> dict[str, Any]:
    """The ExclusiveStartKey a cursor stands for; one from another list or account is refused."""

    def issued_here(plain: dict[str, str]) -> bool:
        # The queried partition is the last key pair's: pk for an account's statement, gsi1pk for a history.
        return (
            plain[key_names[-2]] == partition
            and plain["sk"].startswith("ENTRY#")
            and plain["pk"].startswith("LEDGER#ACCOUNT#")
        )

    return decode_cursor(cursor, key_names, issued_here)
