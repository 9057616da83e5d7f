"""Invoice subscriptions read through the invoices repository: soft-deleted is not found."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from shared.models.invoice import Invoice, InvoiceStatus
from shared.realtime.invoices import RepositoryInvoiceReader

MOMENT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def invoice(invoice_id: str, deleted: bool) -> Invoice:
    return Invoice(
        id=invoice_id,
        number="INV-00007",
        tenant_id="ten_a",
        customer_id="usr_customer",
        currency="USD",
        status=InvoiceStatus.VOID if deleted else InvoiceStatus.SENT,
        line_items=[],
        subtotal=Decimal("10"),
        tax_amount=Decimal("0"),
        total_amount=Decimal("10"),
        due_date=date(2026, 4, 1),
        created_by="usr_merchant",
        created_at=MOMENT,
        updated_at=MOMENT,
        deleted_at=MOMENT if deleted else None,
    )


class Repository:
    def __init__(self, *invoices: Invoice) -> None:
        self.invoices = {(i.tenant_id, i.id): i for i in invoices}

    def get(self, tenant_id: str, invoice_id: str) -> Invoice | None:
        return self.invoices.get((tenant_id, invoice_id))


def test_reader_answers_the_public_invoice_and_hides_deleted_ones() -> None:
    reader = RepositoryInvoiceReader(Repository(invoice("inv_live", False), invoice("inv_gone", True)))
    view = reader.get("ten_a", "inv_live")
    assert view is not None
    assert (view.invoice_id, view.tenant_id, view.customer_id) == ("inv_live", "ten_a", "usr_customer")
    assert view.public["total_amount"] == "10.00" and view.public["number"] == "INV-00007"
    assert reader.get("ten_a", "inv_gone") is None
    assert reader.get("ten_b", "inv_live") is None


def test_reader_marks_drafts() -> None:
    draft = invoice("inv_draft", False).model_copy(update={"status": InvoiceStatus.DRAFT})
    reader = RepositoryInvoiceReader(Repository(draft, invoice("inv_live", False)))
    found, live = reader.get("ten_a", "inv_draft"), reader.get("ten_a", "inv_live")
    assert found is not None and found.is_draft
    assert live is not None and not live.is_draft
