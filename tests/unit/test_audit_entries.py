"""Audit entries are typed records of the domain; only the DynamoDB adapter turns them into `AUDIT#` items
(keys and attributes as the audit view reads them), and back."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from shared.adapters.dynamodb_audit_entries import audit_entry_of, audit_item
from shared.adapters.dynamodb_table import from_item, put_new, to_item
from shared.auth import Principal
from shared.clock import FixedClock
from shared.invoices.service import InvoiceService
from shared.models.invoice import InvoiceCreate
from shared.outbox.records import AuditEntry, DomainEvent, audit_entry
from shared.outbox.request_origin import RequestOrigin, serving

AT = datetime(2030, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)


def entry(**overrides: Any) -> AuditEntry:
    fields: dict[str, Any] = {
        "resource_id": "inv_1",
        "action": "invoice.sent",
        "actor": "merchant-1",
        "tenant_id": "tenant-a",
        "at": AT,
        "changes": {"status": "sent", "total": Decimal("12.50")},
        "ip_address": "203.0.113.7",
        "request_id": "req-1",
        "id": "aud_1",
    }
    fields.update(overrides)
    return AuditEntry(**fields)


def test_an_entry_is_stored_as_the_audit_item_the_view_reads() -> None:
    assert audit_item(entry()) == {
        "pk": "AUDIT#inv_1",
        "sk": "2030-01-02T03:04:05.678Z#aud_1",
        "gsi1pk": "TENANT#tenant-a#AUDIT",
        "gsi1sk": "2030-01-02T03:04:05.678Z#aud_1",
        "gsi2pk": "TENANT#tenant-a#AUDIT#ACTOR#merchant-1",
        "gsi2sk": "2030-01-02T03:04:05.678Z#aud_1",
        "audit_id": "aud_1",
        "entity_id": "inv_1",
        "action": "invoice.sent",
        "actor": "merchant-1",
        "tenant_id": "tenant-a",
        "changes": {"status": "sent", "total": Decimal("12.50")},
        "ip_address": "203.0.113.7",
        "request_id": "req-1",
        "created_at": "2030-01-02T03:04:05.678Z",
    }


def test_a_stored_entry_reads_back_as_the_same_entry() -> None:
    for written in (entry(), entry(ip_address=None, request_id=None, changes={})):
        assert audit_entry_of(from_item(to_item(audit_item(written)))) == written
    assert entry().resource_type == "invoice"


def test_put_new_stores_an_entry_as_its_item_and_only_if_new() -> None:
    put = put_new("WalletsTable", entry())["Put"]
    assert put["Item"] == to_item(audit_item(entry()))
    assert put["ConditionExpression"] == "attribute_not_exists(pk)"


def test_an_entry_carries_the_origin_of_the_request_being_served() -> None:
    with serving(RequestOrigin("198.51.100.2", "req-9")):
        served = audit_entry("wal_1", "wallet.created", "merchant-1", "tenant-a", AT, {})
    unserved = audit_entry("wal_1", "wallet.destroyed", "system", "tenant-a", AT, {})
    assert (served.ip_address, served.request_id) == ("198.51.100.2", "req-9")
    assert (unserved.ip_address, unserved.request_id) == (None, None)
    assert served.id != unserved.id and served.id.startswith("aud_")


class CapturingRepository:
    """The records a service hands the repository, as it hands them (not yet items)."""

    def __init__(self) -> None:
        self.records: list[Any] = []

    def current_number(self, tenant_id: str) -> int | None:
        return None

    def create(self, invoice: Any, sequence: int, previous: int | None, records: list[Any]) -> None:
        self.records.extend(records)


def test_the_invoice_service_hands_typed_records_to_its_repository() -> None:
    repository = CapturingRepository()
    service = InvoiceService(repository, FixedClock(AT), backoff=lambda _: None)  # type: ignore[arg-type]
    request = InvoiceCreate.model_validate(
        {
            "customer_id": "cus_1",
            "currency": "EUR",
            "line_items": [{"description": "x", "quantity": 1, "unit_price": Decimal("10.00")}],
            "due_date": "2030-01-31",
        }
    )
    invoice = service.create(Principal("merchant-1", "tenant-a", frozenset({"merchant"})), request)
    [audit] = [r for r in repository.records if isinstance(r, AuditEntry)]
    assert (audit.resource_id, audit.action, audit.actor, audit.at) == (
        invoice.id,
        "invoice.created",
        "merchant-1",
        AT,
    )
    assert all(isinstance(r, AuditEntry | DomainEvent) for r in repository.records)
