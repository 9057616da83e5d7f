"""Invoice use cases: create with a gapless per-tenant number, read, list, send, void, soft delete."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.auth import ADMIN, CONSUMER, MERCHANT, Principal, require_role
from shared.clock import Clock
from shared.errors import ConcurrentUpdate, NotFound
from shared.ids import new_id
from shared.invoices.ports import InvoicePage, InvoiceQuery, InvoiceRepository
from shared.models.invoice import (
    Invoice,
    InvoiceCreate,
    InvoiceStatus,
    PricedLines,
    ensure_deletable,
    next_status,
    price_lines,
)
from shared.money import format_amount, minor_units
from shared.outbox.records import Record, Resource, audit_entry, domain_event

_random = secrets.SystemRandom()
_INVOICE_ID = re.compile(r"^inv_[0-9a-z]{24}$")


def jittered_backoff(attempt: int, base: float = 0.004, cap: float = 0.1) -> None:
    """Full-jitter exponential backoff between retries of a lost counter race."""
    time.sleep(_random.uniform(0, min(cap, base * 2**attempt)))


def format_number(sequence: int) -> str:
    return f"INV-{sequence:05d}"


def draft_invoice(
    principal: Principal,
    request: InvoiceCreate,
    priced: PricedLines,
    invoice_id: str,
    sequence: int,
    now: datetime,
) -> Invoice:
    """The draft `request` describes, numbered `sequence` (single and bulk creation build it alike)."""
    return Invoice(
        id=invoice_id,
        number=format_number(sequence),
        tenant_id=principal.tenant_id,
        customer_id=request.customer_id,
        currency=request.currency,
        status=InvoiceStatus.DRAFT,
        line_items=priced.lines,
        subtotal=priced.subtotal,
        tax_amount=priced.tax_amount,
        total_amount=priced.total,
        due_date=request.due_date,
        recurring=bool(request.recurring),
        schedule=request.schedule,
        category=request.category,
        payment_type=request.resolved_payment_type,
        enterprise_wallet_address=request.enterprise_wallet_address,
        metadata=dict(request.metadata or {}),
        created_by=principal.sub,
        created_at=now,
        updated_at=now,
    )


def invoice_records(
    invoice: Invoice, actor: str, event_name: str, changes: dict[str, Any], moment: datetime
) -> list[Record]:
    """The audit item and the domain event of one change of `invoice`, for the transaction that makes it."""
    places = minor_units(invoice.currency)
    data = {
        "tenant_id": invoice.tenant_id,
        "invoice_id": invoice.id,
        "number": invoice.number,
        "customer_id": invoice.customer_id,
        "status": invoice.status.value,
        "currency": invoice.currency,
        "total_amount": format_amount(invoice.total_amount, places),
        "amount_due": format_amount(invoice.amount_due, places),
    }
    return [
        audit_entry(invoice.id, event_name, actor, invoice.tenant_id, moment, changes),
        domain_event(
            event_name,
            [f"invoice:{invoice.id}", "admin"],
            data,
            moment,
            resource=Resource("invoice", invoice.id),
        ),
    ]


class InvoiceService:
    def __init__(
        self,
        repository: InvoiceRepository,
        clock: Clock,
        *,
        max_attempts: int = 30,
        backoff: Callable[[int], None] = jittered_backoff,
    ) -> None:
        self._repository = repository
        self._clock = clock
        self._max_attempts = max_attempts
        self._backoff = backoff

    def create(self, principal: Principal, request: InvoiceCreate) -> Invoice:
        require_role(principal, MERCHANT)
        priced = price_lines(request.line_items, request.currency)
        invoice_id = new_id("inv")
        for attempt in range(self._max_attempts):
            previous = self._repository.current_number(principal.tenant_id)
            sequence = (previous or 0) + 1
            now = self._clock.now()
            invoice = draft_invoice(principal, request, priced, invoice_id, sequence, now)
            records = self._records(invoice, principal, "invoice.created", {"number": invoice.number})
            try:
                self._repository.create(invoice, sequence, previous, records)
            except ConcurrentUpdate:
                self._backoff(attempt)
                continue
            return invoice
        raise ConcurrentUpdate("too many concurrent invoice creations for this tenant; retry")

    def get(self, principal: Principal, invoice_id: str) -> Invoice:
        require_role(principal, MERCHANT, ADMIN, CONSUMER)
        invoice = self._live_invoice(principal, invoice_id)
        if not self._may_read(principal, invoice):
            raise NotFound("invoice not found")
        return invoice

    def list_invoices(
        self, principal: Principal, *, status: InvoiceStatus | None, limit: int, cursor: str | None
    ) -> InvoicePage:
        require_role(principal, MERCHANT, ADMIN, CONSUMER)
        tenant_wide = principal.has_any(MERCHANT, ADMIN)
        query = InvoiceQuery(
            tenant_id=principal.tenant_id,
            limit=limit,
            status=status,
            customer_id=None if tenant_wide else principal.sub,
            cursor=cursor,
            hide_drafts=not tenant_wide,
        )
        return self._repository.page(query)

    def send(self, principal: Principal, invoice_id: str) -> Invoice:
        return self._transition(principal, invoice_id, "send")

    def void(self, principal: Principal, invoice_id: str) -> Invoice:
        return self._transition(principal, invoice_id, "void")

    def delete(self, principal: Principal, invoice_id: str) -> None:
        require_role(principal, MERCHANT)
        for _ in range(3):
            invoice = self._live_invoice(principal, invoice_id)
            ensure_deletable(invoice.status)
            now = self._clock.now()
            records = self._records(invoice, principal, "invoice.deleted", {"deleted": True}, now=now)
            try:
                # Money held by the invoice's wallet goes back first (the refund route): never strand it.
                self._repository.soft_delete(invoice, invoice.status, now, records, wallet_empty=True)
            except ConcurrentUpdate:
                continue
            return
        raise ConcurrentUpdate("the invoice changed while it was being deleted; retry")

    def _transition(self, principal: Principal, invoice_id: str, action: str) -> Invoice:
        require_role(principal, MERCHANT)
        # A lost condition means someone changed the invoice between our read and write: read it again
        # and re-decide, so the answer reflects the state that actually won.
        for _ in range(3):
            invoice = self._live_invoice(principal, invoice_id)
            target = next_status(invoice.status, action)
            now = self._clock.now()
            stamps: dict[str, Any] = {"sent_at": now} if target is InvoiceStatus.SENT else {"voided_at": now}
            updated = invoice.model_copy(update={"status": target, "updated_at": now, **stamps})
            event = "invoice.sent" if target is InvoiceStatus.SENT else "invoice.voided"
            changes = {"status": {"from": invoice.status.value, "to": target.value}}
            records = self._records(updated, principal, event, changes, now=now)
            try:
                self._repository.change_status(
                    updated, invoice.status, records, wallet_empty=target is InvoiceStatus.VOID
                )
            except ConcurrentUpdate:
                continue
            return updated
        raise ConcurrentUpdate("the invoice changed while it was being updated; retry")

    def _live_invoice(self, principal: Principal, invoice_id: str) -> Invoice:
        if not _INVOICE_ID.fullmatch(invoice_id):
            raise NotFound("invoice not found")
        invoice = self._repository.get(principal.tenant_id, invoice_id)
        if invoice is None or invoice.deleted_at is not None:
            raise NotFound("invoice not found")
        return invoice

    @staticmethod
    def _may_read(principal: Principal, invoice: Invoice) -> bool:
        """Merchants and admins read their tenant's invoices; a customer their own once sent (a draft
        is the merchant's work in progress)."""
        if principal.has_any(MERCHANT, ADMIN):
            return True
        return invoice.customer_id == principal.sub and invoice.status is not InvoiceStatus.DRAFT

    def _records(
        self,
        invoice: Invoice,
        principal: Principal,
        event_name: str,
        changes: dict[str, Any],
        *,
        now: datetime | None = None,
    ) -> list[Record]:
        return invoice_records(invoice, principal.sub, event_name, changes, now or invoice.updated_at)
