"""The wallet routes' answers (the envelope's `data`): wallet making (create_wallet) and the reads (wallets),
as `Wallet.to_api`, `Card.to_api`, `WalletView` and `WalletQueries` write them."""

from typing import Literal

from shared.models.output import Output, Page


class WalletOut(Output):
    """A wallet: balance and limit as decimal strings, times as ISO-8601 UTC, the countdown in seconds."""

    wallet_id: str
    object: Literal["wallet"]
    invoice_id: str | None
    customer_id: str | None
    wallet_type: str
    wallet_address: str
    solana_address: str
    balance: str
    spending_limit: str
    currency: str
    status: str
    expires_at: str | None
    ttl_seconds: int | None
    remaining_seconds: int | None
    provider: str | None
    features: list[str]
    purpose: str | None
    created_at: str
    updated_at: str


class CardOut(Output):
    """The wallet's single-use virtual card (it dies with its wallet)."""

    id: str
    wallet_id: str
    last4: str
    card_type: Literal["virtual"]
    status: str
    spending_limit: str
    remaining_limit: str | None
    currency: str
    single_use: bool
    expires_at: str


class WalletAnswer(Output):
    """A wallet and its card (none for a card-less wallet)."""

    wallet: WalletOut
    card: CardOut | None


class WalletCreated(WalletAnswer):
    """create-from-invoice: the invoice's wallet, whether this call made it, its mode and countdown."""

    isNew: bool
    mode: str
    expiresIn: int | None


class InvoiceWalletCreated(Output):
    """The v1 one-call checkout: the invoice, its wallet and the payment link (with its QR code)."""

    invoiceId: str
    walletId: str
    walletAddress: str
    paymentLink: str
    qrCode: str
    expiresAt: str | None


class EphemeralCreated(Output):
    """The v1 standalone ephemeral wallet."""

    walletId: str
    address: str
    solanaAddress: str
    expiresAt: str | None


class WalletTransformed(Output):
    wallet_id: str
    new_type: str
    features: list[str]


class WalletStatusOut(Output):
    wallet_id: str
    invoice_id: str | None
    wallet_type: str
    status: str
    balance: str
    currency: str
    provider: str | None
    expires_at: str | None
    remaining_seconds: int | None
    is_expired: bool
    server_time: str


class CountdownOut(Output):
    """The public countdown of an ephemeral wallet."""

    wallet_id: str
    expires_at: str
    remaining_seconds: int | None
    status: str
    is_expired: bool
    server_time: str


class WalletStatsOut(Output):
    """The tenant's wallet counters (admin)."""

    by_mode: dict[str, int]
    by_status: dict[str, int]
    created_total: int
    destroyed_total: int
    ephemeral_share: str
    average_ttl_seconds: int | None
    server_time: str


class ActiveWalletPage(Page):
    wallets: list[WalletOut]
