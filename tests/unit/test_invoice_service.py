"""InvoiceService against an in-memory repository: numbering, retries, roles, tenants, transitions."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from shared.auth import Principal
from shared.clock import FixedClock
from shared.errors import ConcurrentUpdate, Forbidden, InvalidState, NotFound
from shared.invoices.ports import InvoicePage, InvoiceQuery
from shared.invoices.service import InvoiceService
from shared.models.invoice import Invoice, InvoiceCreate, InvoiceStatus
from tests.support.events import as_items

MERCHANT = Principal("m1", "t1", frozenset({"merchant"}))
OTHER = Principal("m2", "t2", frozenset({"merchant"}))
CUSTOMER = Principal("cus_1", "t1", frozenset({"consumer"}))
REQUEST = InvoiceCreate.model_validate(
    {
        "customer_id": "cus_1",
        "currency": "EUR",
        "line_items": [{"description": "x", "quantity": 2, "unit_price": Decimal("10.00"), "tax_rate": 20}],
        "due_date": "2030-01-01",
    }
)


class FakeRepository:
    def __init__(self, conflicts: int = 0) -> None:
        self.counters: dict[str, int] = {}
        self.invoices: dict[tuple[str, str], Invoice] = {}
        self.records: list[dict[str, Any]] = []
        self.conflicts = conflicts
        # Per status change or delete: whether the wallet's money guard went with it.
        self.guards: list[bool] = []

    def current_number(self, tenant_id: str) -> int | None:
        return self.counters.get(tenant_id)

    def create(
        self, invoice: Invoice, sequence: int, previous: int | None, records: list[dict[str, Any]]
    ) -> None:
        if self.conflicts:
            self.conflicts -= 1
            self.counters[invoice.tenant_id] = (previous or 0) + 1  # another writer won this number
            raise ConcurrentUpdate("lost")
        assert self.counters.get(invoice.tenant_id) == previous
        self.counters[invoice.tenant_id] = sequence
        self.invoices[(invoice.tenant_id, invoice.id)] = invoice
        self.records.extend(as_items(records))

    def get(self, tenant_id: str, invoice_id: str) -> Invoice | None:
        return self.invoices.get((tenant_id, invoice_id))

    def page(self, query: InvoiceQuery) -> InvoicePage:
        found = [
            i
            for (tenant, _), i in self.invoices.items()
            if tenant == query.tenant_id
            and i.deleted_at is None
            and (query.customer_id is None or i.customer_id == query.customer_id)
            and not (query.hide_drafts and i.status is InvoiceStatus.DRAFT)
        ]
        return InvoicePage(items=found[: query.limit], next_cursor=None)

    def change_status(
        self,
        invoice: Invoice,
        expected: InvoiceStatus,
        records: list[dict[str, Any]],
        *,
        wallet_empty: bool = False,
    ) -> None:
        stored = self.invoices[(invoice.tenant_id, invoice.id)]
        if stored.status is not expected or stored.deleted_at:
            raise ConcurrentUpdate("lost")
        self.guards.append(wallet_empty)
        self.invoices[(invoice.tenant_id, invoice.id)] = invoice
        self.records.extend(as_items(records))

    def soft_delete(
        self,
        invoice: Invoice,
        expected: InvoiceStatus,
        deleted_at: datetime,
        records: list[dict[str, Any]],
        *,
        wallet_empty: bool = False,
    ) -> None:
        self.guards.append(wallet_empty)
        self.invoices[(invoice.tenant_id, invoice.id)] = invoice.model_copy(update={"deleted_at": deleted_at})
        self.records.extend(as_items(records))


def service(repository: FakeRepository) -> InvoiceService:
    return InvoiceService(repository, FixedClock(datetime(2030, 1, 1, tzinfo=UTC)), backoff=lambda _: None)


def test_numbers_are_per_tenant_and_sequential() -> None:
    repo = FakeRepository()
    svc = service(repo)
    assert [svc.create(MERCHANT, REQUEST).number for _ in range(3)] == ["INV-00001", "INV-00002", "INV-00003"]
    assert svc.create(OTHER, REQUEST).number == "INV-00001"
    invoice = next(iter(repo.invoices.values()))
    assert (invoice.subtotal, invoice.tax_amount, invoice.total_amount) == (
        Decimal(20),
        Decimal(4),
        Decimal(24),
    )
    assert [r["event_name"] for r in repo.records if "event_name" in r] == ["invoice.created"] * 4


def test_lost_counter_race_retries_with_a_fresh_number() -> None:
    repo = FakeRepository(conflicts=3)
    assert service(repo).create(MERCHANT, REQUEST).number == "INV-00004"


def test_gives_up_after_bounded_attempts() -> None:
    repo = FakeRepository(conflicts=100)
    with pytest.raises(ConcurrentUpdate):
        InvoiceService(
            repo, FixedClock(datetime(2030, 1, 1, tzinfo=UTC)), max_attempts=5, backoff=lambda _: None
        ).create(MERCHANT, REQUEST)
    assert repo.conflicts == 95


def test_roles_and_tenants() -> None:
    repo = FakeRepository()
    svc = service(repo)
    with pytest.raises(Forbidden):
        svc.create(CUSTOMER, REQUEST)
    invoice = svc.create(MERCHANT, REQUEST)
    # A draft is the merchant's work in progress: its customer sees it once it is sent.
    with pytest.raises(NotFound):
        svc.get(CUSTOMER, invoice.id)
    assert svc.list_invoices(CUSTOMER, status=None, limit=10, cursor=None).items == []
    svc.send(MERCHANT, invoice.id)
    assert svc.get(CUSTOMER, invoice.id).id == invoice.id
    assert [i.id for i in svc.list_invoices(CUSTOMER, status=None, limit=10, cursor=None).items] == [
        invoice.id
    ]
    with pytest.raises(NotFound):
        svc.get(OTHER, invoice.id)
    with pytest.raises(NotFound):
        svc.get(Principal("cus_2", "t1", frozenset({"consumer"})), invoice.id)
    with pytest.raises(Forbidden):
        svc.send(CUSTOMER, invoice.id)
    with pytest.raises(NotFound):
        svc.get(MERCHANT, "../../etc")


def test_transitions_and_soft_delete() -> None:
    repo = FakeRepository()
    svc = service(repo)
    invoice = svc.create(MERCHANT, REQUEST)
    assert svc.send(MERCHANT, invoice.id).status is InvoiceStatus.SENT
    with pytest.raises(InvalidState):
        svc.send(MERCHANT, invoice.id)
    with pytest.raises(InvalidState):
        svc.delete(MERCHANT, invoice.id)
    assert svc.void(MERCHANT, invoice.id).status is InvoiceStatus.VOID
    svc.delete(MERCHANT, invoice.id)
    with pytest.raises(NotFound):
        svc.get(MERCHANT, invoice.id)
    assert svc.list_invoices(MERCHANT, status=None, limit=10, cursor=None).items == []


def test_void_and_delete_carry_the_wallet_guard_and_send_does_not() -> None:
    repo = FakeRepository()
    svc = service(repo)
    invoice = svc.create(MERCHANT, REQUEST)
    svc.send(MERCHANT, invoice.id)
    svc.void(MERCHANT, invoice.id)
    svc.delete(MERCHANT, invoice.id)
    assert repo.guards == [False, True, True]
