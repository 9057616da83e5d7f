"""Requests to pay between consumers: an invoice of the tenant addressed to the payer (numbered by the
invoices' counter, listed to the payer like any invoice addressed to them), paid from the payer's balance on
`accept` through the internal transfer (which counts the payer's limit) or declined.

The request's own record (`pending` -> `accepted` | `declined`) changes in the same transaction as the
transfer, so two accepts can never both pay; the invoice's status follows right after.

The same path pays a merchant's recurring invoice when it is made, if its customer is a consumer with
`auto_pay` on: from their wallet into the tenant's settlement account, their limit counted in the same
transaction, under an id that follows from the invoice (a second attempt posts nothing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from shared.auth import Principal
from shared.clock import Clock
from shared.consumer.records import format_token, token_minor
from shared.consumer.service import ConsumerService, consumer_channel
from shared.errors import (
    ConcurrentUpdate,
    InsufficientBalance,
    InvalidState,
    LimitExceeded,
    NotFound,
    ValidationFailed,
)
from shared.ids import new_id
from shared.invoices.ports import InvoiceRepository
from shared.invoices.service import format_number
from shared.ledger.assets import STABLECOINS
from shared.models.invoice import Invoice, InvoiceStatus, LineItemInput, price_lines
from shared.money import decimals_of
from shared.outbox.records import Record, Resource, audit_entry, domain_event, iso

DUE_IN = timedelta(days=30)
AUTO_PAY_ACTOR = "auto-pay"
_INVOICE_ID = re.compile(r"^inv_[0-9a-z]{24}$")
_ATTEMPTS = 10


class RequestState(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"


@dataclass(frozen=True)
class PayRequest:
    id: str
    """The invoice's id."""
    tenant_id: str
    requester: str
    payer: str
    amount: int
    currency: str
    memo: str | None
    state: RequestState
    number: str
    created_at: datetime
    transaction_id: str | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "invoice_id": self.id,
            "number": self.number,
            "from": self.payer,
            "to": self.requester,
            "amount": format_token(self.amount),
            "currency": self.currency,
            "memo": self.memo,
            "status": self.state.value,
            "transaction_id": self.transaction_id,
            "created_at": iso(self.created_at),
        }


class RequestStore(Protocol):
    def request(self, tenant_id: str, request_id: str) -> PayRequest | None: ...

    def new_request(self, request: PayRequest) -> dict[str, Any]:
        """The record (put only if new), to travel with the invoice's creation."""
        ...

    def settle(self, request: PayRequest, records: list[Record]) -> list[Any]:
        """Operations: the record moved from pending to `request.state`, and `records` (events) put."""
        ...

    def settle_now(self, request: PayRequest, records: list[Record]) -> None:
        """`settle` and `records` (events, put as new) in one transaction; ConcurrentUpdate if not pending."""
        ...


class PayRequests:
    def __init__(
        self,
        consumer: ConsumerService,
        invoices: InvoiceRepository,
        requests: RequestStore,
        clock: Clock,
    ) -> None:
        self._consumer = consumer
        self._invoices = invoices
        self._requests = requests
        self._clock = clock

    def create(
        self, principal: Principal, payer_ref: str, amount: Decimal, coin: str, memo: str | None
    ) -> dict[str, Any]:
        requester = self._consumer.profile(principal)
        payer = self._consumer.recipient(requester.tenant_id, payer_ref)
        if payer.user_id == requester.user_id:
            raise ValidationFailed("a request needs another consumer", [_detail("from", "that is you")])
        fiat = STABLECOINS[coin]
        if decimals_of(amount) > 2:
            raise ValidationFailed("a request is an invoice", [_detail("amount", "at most 2 decimals")])
        priced = price_lines(
            [LineItemInput(description=memo or "Request to pay", quantity=1, unit_price=amount)], fiat
        )
        invoice_id = new_id("inv")
        for _ in range(_ATTEMPTS):
            previous = self._invoices.current_number(requester.tenant_id)
            sequence, now = (previous or 0) + 1, self._clock.now()
            invoice = Invoice(
                id=invoice_id,
                number=format_number(sequence),
                tenant_id=requester.tenant_id,
                customer_id=payer.user_id,
                currency=fiat,
                status=InvoiceStatus.SENT,
                line_items=priced.lines,
                subtotal=priced.subtotal,
                tax_amount=priced.tax_amount,
                total_amount=priced.total,
                due_date=(now + DUE_IN).date(),
                category="consumer_request",
                metadata={"request_from": requester.user_id, "coin": coin},
                created_by=requester.user_id,
                created_at=now,
                updated_at=now,
                sent_at=now,
            )
            request = PayRequest(
                invoice_id,
                requester.tenant_id,
                requester.user_id,
                payer.user_id,
                token_minor(amount),
                coin,
                memo,
                RequestState.PENDING,
                invoice.number,
                now,
            )
            records = [
                self._requests.new_request(request),
                audit_entry(invoice_id, "request.created", requester.user_id, requester.tenant_id, now, {}),
                *self._events("request:created", request, now),
            ]
            try:
                self._invoices.create(invoice, sequence, previous, records)
            except ConcurrentUpdate:
                continue
            return request.to_api()
        raise ConcurrentUpdate("too many concurrent invoices in this tenant; retry")

    def accept(self, principal: Principal, request_id: str) -> dict[str, Any]:
        request = self._pending_for_payer(principal, request_id)
        accepted = _replace_state(request, RequestState.ACCEPTED)
        moved = self._consumer.transfer(
            principal,
            request.requester,
            Decimal(request.amount).scaleb(-6),
            request.currency,
            request.memo or f"request {request.number}",
            also=self._requests.settle(
                accepted, self._events("request:accepted", accepted, self._clock.now())
            ),
        )
        self._invoice_to(principal.sub, request.tenant_id, request.id, InvoiceStatus.PAID)
        return {"request": accepted.to_api(), "transaction": moved["transaction"]}

    def pay_from_balance(self, invoice: Invoice) -> bool:
        """A new invoice paid from its customer's wallet when they turned `auto_pay` on; False (the invoice
        stays sent) when they did not, or no coin of theirs is backed by its currency, or their wallet or
        limit cannot cover it now."""
        try:
            payer = self._consumer.recipient(invoice.tenant_id, invoice.customer_id)
        except NotFound:
            return False
        coin = _coin_for(invoice, payer.preferences.preferred_currency)
        if not payer.preferences.auto_pay or coin is None or invoice.amount_due <= 0:
            return False
        memo = f"auto-pay {invoice.number}"
        try:
            self._consumer.pay_merchant(payer, invoice.id, token_minor(invoice.amount_due), coin, memo)
        except (InsufficientBalance, LimitExceeded):
            return False
        self._invoice_to(AUTO_PAY_ACTOR, invoice.tenant_id, invoice.id, InvoiceStatus.PAID, auto_paid=True)
        return True

    def decline(self, principal: Principal, request_id: str) -> dict[str, Any]:
        request = self._pending_for_payer(principal, request_id)
        declined = _replace_state(request, RequestState.DECLINED)
        try:
            self._requests.settle_now(declined, self._events("request:declined", declined, self._clock.now()))
        except ConcurrentUpdate as exc:
            raise InvalidState("the request was answered already") from exc
        self._invoice_to(principal.sub, request.tenant_id, request.id, InvoiceStatus.VOID)
        return {"request": declined.to_api()}

    # -- helpers --------------------------------------------------------------------------------------
    def _pending_for_payer(self, principal: Principal, request_id: str) -> PayRequest:
        payer = self._consumer.profile(principal)
        found = (
            self._requests.request(payer.tenant_id, request_id) if _INVOICE_ID.fullmatch(request_id) else None
        )
        if found is None or found.payer != payer.user_id:
            raise NotFound("request not found")
        if found.state is not RequestState.PENDING:
            raise InvalidState(f"the request is {found.state.value} already")
        return found

    def _invoice(self, tenant_id: str, invoice_id: str) -> Invoice:
        invoice = self._invoices.get(tenant_id, invoice_id)
        if invoice is None:
            raise NotFound("request not found")
        return invoice

    def _invoice_to(
        self, actor: str, tenant_id: str, invoice_id: str, status: InvoiceStatus, auto_paid: bool = False
    ) -> None:
        """The invoice follows its request (or its payment), once the money moved or the request's own
        record was answered (which already decided it: a lost race here only means another run moved the
        invoice first)."""
        for _ in range(3):
            invoice, now = self._invoice(tenant_id, invoice_id), self._clock.now()
            if invoice.status is status:
                return
            stamps: dict[str, Any] = (
                {"amount_paid": invoice.total_amount} if status is InvoiceStatus.PAID else {}
            )
            if status is InvoiceStatus.VOID:
                stamps["voided_at"] = now
            changed = invoice.model_copy(update={"status": status, "updated_at": now, **stamps})
            action = f"invoice.{'paid' if status is InvoiceStatus.PAID else 'voided'}"
            records: list[Record] = [audit_entry(invoice.id, action, actor, invoice.tenant_id, now, {})]
            if auto_paid:
                data = {
                    "tenant_id": invoice.tenant_id,
                    "invoice_id": invoice.id,
                    "number": invoice.number,
                    "customer_id": invoice.customer_id,
                    "amount": f"{invoice.total_amount}",
                    "currency": invoice.currency,
                    "auto_pay": True,
                }
                channels = [f"invoice:{invoice.id}", consumer_channel(invoice.customer_id), "admin"]
                records.append(
                    domain_event(
                        "invoice.paid", channels, data, now, resource=Resource("invoice", invoice.id)
                    )
                )
            try:
                self._invoices.change_status(changed, invoice.status, records)
            except ConcurrentUpdate:
                continue
            return

    def _events(self, name: str, request: PayRequest, now: datetime) -> list[Record]:
        # One resource for both people's copies: the request is an invoice, and its sequence orders them.
        data = {"tenant_id": request.tenant_id, **request.to_api()}
        channels = [consumer_channel(request.payer), consumer_channel(request.requester)]
        return [domain_event(name, channels, data, now, resource=Resource("invoice", request.id))]


def _coin_for(invoice: Invoice, preferred: str) -> str | None:
    """The coin an invoice is paid in: the one it names, else the person's preferred coin when it is backed by
    the invoice's currency, else the first coin that is; None when no coin is."""
    named = invoice.metadata.get("coin")
    if named in STABLECOINS and STABLECOINS[named] == invoice.currency:
        return named
    if STABLECOINS.get(preferred) == invoice.currency:
        return preferred
    return next((coin for coin, fiat in STABLECOINS.items() if fiat == invoice.currency), None)


def _replace_state(request: PayRequest, state: RequestState) -> PayRequest:
    from dataclasses import replace

    return replace(request, state=state)


def _detail(field: str, message: str) -> dict[str, str]:
    return {"field": field, "message": message, "type": "value_error"}
