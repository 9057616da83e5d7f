"""Wallet reads: one wallet with its card, by invoice, status, the public countdown, admin stats and list."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.auth import ADMIN, CONSUMER, MERCHANT, Principal, require_role
from shared.cards.ports import CardIssuer
from shared.clock import Clock
from shared.errors import NotFound
from shared.ids import is_wallet_id
from shared.models.wallet import WalletMode
from shared.outbox.records import iso
from shared.wallets.ports import WalletPage, WalletRepository
from shared.wallets.service import WalletView, may_see, remaining_limit
from shared.wallets.stats import summarize


class WalletQueries:
    def __init__(self, wallets: WalletRepository, cards: CardIssuer, clock: Clock) -> None:
        self._wallets = wallets
        self._cards = cards
        self._clock = clock

    def get(self, principal: Principal, wallet_id: str) -> WalletView:
        require_role(principal, MERCHANT, ADMIN, CONSUMER)
        wallet = self._wallets.get(wallet_id) if is_wallet_id(wallet_id) else None
        if wallet is None or not may_see(principal, wallet.tenant_id, wallet.customer_id):
            raise NotFound("wallet not found")
        card = self._wallets.get_card(wallet.wallet_id)
        return WalletView(wallet, card, remaining_limit(self._cards, card), self._clock.now())

    def by_invoice(self, principal: Principal, invoice_id: str) -> WalletView:
        require_role(principal, MERCHANT, ADMIN, CONSUMER)
        found = self._wallets.wallet_id_for_invoice(invoice_id) if len(invoice_id) <= 64 else None
        if found is None or found[1] != principal.tenant_id:
            raise NotFound("no wallet for this invoice")
        return self.get(principal, found[0])

    def status(self, principal: Principal, wallet_id: str) -> dict[str, Any]:
        view = self.get(principal, wallet_id)
        wallet, now = view.wallet, view.now
        return {
            "wallet_id": wallet.wallet_id,
            "invoice_id": wallet.invoice_id,
            "wallet_type": wallet.wallet_type.value,
            "status": wallet.status_at(now).value,
            "balance": wallet.to_api(now)["balance"],
            "currency": wallet.currency,
            "provider": wallet.provider,
            "expires_at": iso(wallet.expires_at) if wallet.expires_at else None,
            "remaining_seconds": wallet.remaining_seconds(now),
            "is_expired": wallet.is_expired(now),
            "server_time": iso(now),
        }

    def countdown(self, wallet_id: str) -> dict[str, Any]:
        """Public (no auth): what a checkout page counts down from. Only ephemeral wallets have one."""
        wallet = self._wallets.get(wallet_id) if is_wallet_id(wallet_id) else None
        if wallet is None or wallet.wallet_type is not WalletMode.EPHEMERAL or wallet.expires_at is None:
            raise NotFound("no countdown for this wallet")
        now = self._clock.now()
        return {
            "wallet_id": wallet.wallet_id,
            "expires_at": iso(wallet.expires_at),
            "remaining_seconds": wallet.remaining_seconds(now),
            "status": wallet.status_at(now).value,
            "is_expired": wallet.is_expired(now),
            "server_time": iso(now),
        }

    def stats(self, principal: Principal) -> dict[str, Any]:
        require_role(principal, ADMIN)
        return {**summarize(self._wallets.stats(principal.tenant_id)), "server_time": iso(self._clock.now())}

    def active(self, principal: Principal, limit: int, cursor: str | None) -> tuple[WalletPage, datetime]:
        require_role(principal, ADMIN)
        return self._wallets.active_page(principal.tenant_id, limit, cursor), self._clock.now()
