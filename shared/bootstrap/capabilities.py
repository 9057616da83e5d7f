"""One builder per capability, over the process's adapters. Each imports its service and adapters when it
is first asked for, so a function loads only the capabilities its invoked route uses."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from shared.bootstrap.adapters import Adapters

if TYPE_CHECKING:
    from collections.abc import Callable

    from shared.adapters.dynamodb_provider_health import DynamoDBProviderHealthRepository
    from shared.adapters.eventbus_stream import OutboxBatchProcessor
    from shared.checkout.links import PaymentLinks
    from shared.checkout.service import CheckoutService
    from shared.consumer.batches import BatchTransfers
    from shared.consumer.deposits import DepositService
    from shared.consumer.kyc import KycService
    from shared.consumer.requests import PayRequests
    from shared.consumer.routing import ProviderChooser
    from shared.consumer.service import ConsumerService
    from shared.consumer.swaps import SwapService
    from shared.consumer.withdrawals import WithdrawalService
    from shared.destruction.service import DestructionService
    from shared.enterprise.imports import InvoiceImports
    from shared.enterprise.views import EnterpriseViews
    from shared.events.delivery_service import WebhookDeliveryService
    from shared.events.endpoint_service import WebhookEndpointService
    from shared.events.service import EventService
    from shared.funding.service import FundingService
    from shared.funding.wallet_refund import WalletRefundService
    from shared.health.service import HealthService
    from shared.invoices.bulk import BulkInvoiceService
    from shared.invoices.overdue import OverdueInvoices
    from shared.invoices.recurring import RecurringInvoices
    from shared.invoices.service import InvoiceService
    from shared.models.invoice import Invoice
    from shared.payments.pay_invoice import PayInvoice
    from shared.payments.service import PaymentService
    from shared.payouts.payroll import PayrollClaims
    from shared.payouts.service import PayoutService
    from shared.providers.port import ProviderHealthRepository, ProviderHistory
    from shared.providers.service import HealthCheckService
    from shared.realtime.service import RealtimeService
    from shared.reserve.service import ReconciliationService, ReserveMetrics, SupplyReporter
    from shared.stripe_events.service import StripeEventService
    from shared.sweeper.service import ClaimSweeper
    from shared.treasury.service import TreasuryService
    from shared.wallets.checkout import InvoiceWalletCheckout
    from shared.wallets.reads import WalletQueries
    from shared.wallets.service import CardholderProfile, WalletService


@dataclass(frozen=True)
class Settlement:
    """Paying and destruction over the same adapters: `pay_invoice` pays, then destroys an ephemeral wallet
    its payment completed; destruction lands an in-flight payment or refund (never destroying) before it
    refunds anything. The services do not know each other: only `pay_invoice` holds both."""

    payments: PaymentService
    destruction: DestructionService
    refunds: WalletRefundService
    pay_invoice: PayInvoice


class Capabilities:
    """What handlers ask for. Built lazily from `adapters`; tests build one over their own adapters."""

    def __init__(self, adapters: Adapters, *, reserve_metrics: ReserveMetrics | None = None) -> None:
        self.adapters = adapters
        self._reserve_metrics = reserve_metrics

    # -- events -----------------------------------------------------------------------------------------
    @cached_property
    def events(self) -> EventService:
        from shared.events.service import EventService

        return EventService(self._event_history)

    @cached_property
    def webhook_endpoints(self) -> WebhookEndpointService:
        from shared.adapters.dynamodb_webhook_endpoints import DynamoDBWebhookEndpoints
        from shared.events.endpoint_service import WebhookEndpointService

        a = self.adapters
        return WebhookEndpointService(
            DynamoDBWebhookEndpoints(a.dynamodb, a.settings.table_name),
            a.address_resolver,
            a.clock,
            a.webhook_secrets,
            allow_loopback=a.settings.webhook_allow_loopback,
        )

    @cached_property
    def webhook_delivery(self) -> WebhookDeliveryService:
        from shared.adapters.dynamodb_deliveries import DynamoDBDeliveries
        from shared.adapters.dynamodb_webhook_endpoints import DynamoDBWebhookEndpoints
        from shared.events.delivery_service import WebhookDeliveryService

        a = self.adapters
        table = a.settings.table_name
        return WebhookDeliveryService(
            DynamoDBWebhookEndpoints(a.dynamodb, table),
            DynamoDBDeliveries(a.dynamodb, table),
            self._event_history,
            a.webhook_sender,
            a.webhook_timer,
            a.address_resolver,
            a.clock,
            a.webhook_secrets,
            allow_loopback=a.settings.webhook_allow_loopback,
        )

    # -- invoices and wallets -------------------------------------------------------------------------
    @cached_property
    def invoices(self) -> InvoiceService:
        from shared.invoices.service import InvoiceService

        return InvoiceService(self._invoice_repository, self.adapters.clock)

    @cached_property
    def bulk_invoices(self) -> BulkInvoiceService:
        from shared.invoices.bulk import BulkInvoiceService

        return BulkInvoiceService(self._invoice_repository, self.adapters.clock)

    @cached_property
    def overdue_invoices(self) -> OverdueInvoices:
        from shared.adapters.dynamodb_invoice_due import DynamoDBInvoiceDueIndex
        from shared.invoices.overdue import OverdueInvoices

        a = self.adapters
        index = DynamoDBInvoiceDueIndex(a.dynamodb, a.settings.table_name)
        return OverdueInvoices(index, self._invoice_repository, a.clock)

    @cached_property
    def enterprise_views(self) -> EnterpriseViews:
        from shared.adapters.dynamodb_audit import DynamoDBAuditTrail, DynamoDBDestructionLogs
        from shared.enterprise.views import EnterpriseViews

        a = self.adapters
        table = a.settings.table_name
        return EnterpriseViews(
            DynamoDBAuditTrail(a.dynamodb, table), DynamoDBDestructionLogs(a.dynamodb, table)
        )

    @cached_property
    def invoice_imports(self) -> InvoiceImports:
        from shared.adapters.dynamodb_imports import DynamoDBImportStore
        from shared.adapters.sqs_imports import SqsImportQueue
        from shared.enterprise.imports import InvoiceImports

        a = self.adapters
        return InvoiceImports(
            DynamoDBImportStore(a.dynamodb, a.settings.table_name),
            SqsImportQueue(a.sqs, a.settings.import_queue_url),
            self._invoice_repository.current_number,
            a.clock,
        )

    @cached_property
    def recurring_invoices(self) -> RecurringInvoices:
        from shared.adapters.dynamodb_recurring import DynamoDBRecurringIndex
        from shared.invoices.recurring import RecurringInvoices

        a = self.adapters
        index = DynamoDBRecurringIndex(a.dynamodb, a.settings.table_name)
        # Built on the first invoice made: a run that makes none never loads the consumer capability.
        auto_pay = _LaterAutoPay(lambda: self.pay_requests)
        return RecurringInvoices(index, self._invoice_repository, a.clock, auto_pay)

    @cached_property
    def wallets(self) -> WalletService:
        from shared.adapters.kms_keys import KmsDataKeys
        from shared.consumer.joined import ConsumerWalletJoining
        from shared.wallets.service import WalletService

        a = self.adapters
        return WalletService(
            self._wallet_repository,
            self._invoice_repository,
            KmsDataKeys(a.kms, a.settings.kms_key_id),
            a.cards,
            a.destruction_scheduler,
            a.clock,
            self._cardholder,
            self.invoices,
            limits=a.tenant_limits,
            owners=ConsumerWalletJoining(self._consumer_store, self._ledger),
        )

    @cached_property
    def wallet_queries(self) -> WalletQueries:
        from shared.wallets.reads import WalletQueries

        return WalletQueries(self._wallet_repository, self.adapters.cards, self.adapters.clock)

    @cached_property
    def wallet_checkout(self) -> InvoiceWalletCheckout:
        from shared.checkout.links import qr_data_uri
        from shared.wallets.checkout import InvoiceWalletCheckout

        return InvoiceWalletCheckout(self.invoices, self.wallets, lambda: self.payment_links, qr_data_uri)

    @cached_property
    def payment_links(self) -> PaymentLinks:
        from shared.checkout.links import PaymentLinks

        a = self.adapters
        return PaymentLinks(a.payment_link_secret, a.clock, a.settings.public_base_url)

    @cached_property
    def link_verifier(self) -> PaymentLinks:
        """Payment links as the authorizer checks them: Unauthorized (never built) while PaymentLinkSecret is
        not configured or empty, so a link token is refused rather than answered with a 500."""
        from shared.errors import Unauthorized

        a = self.adapters
        if not a.settings.payment_link_secret_arn or not a.payment_link_secret:
            raise Unauthorized("payment links are not configured")
        return self.payment_links

    @cached_property
    def checkout(self) -> CheckoutService:
        from shared.checkout.service import CheckoutService

        a = self.adapters
        return CheckoutService(self._invoice_repository, self._wallet_repository, self.payment_links, a.clock)

    @cached_property
    def consumer(self) -> ConsumerService:
        from shared.consumer.service import ConsumerService

        a = self.adapters
        return ConsumerService(
            self._consumer_store,
            # Built on first use: only onboarding makes a wallet.
            lambda: self._consumer_wallets,
            self._ledger,
            a.rates,
            a.clock,
        )

    @cached_property
    def kyc(self) -> KycService:
        from shared.adapters.dynamodb_kyc import DynamoDBKycStore
        from shared.consumer.kyc import KycService

        a = self.adapters
        return KycService(
            self.consumer,
            self._consumer_store,
            DynamoDBKycStore(a.dynamodb, a.settings.table_name),
            a.identity,
            a.clock,
        )

    @cached_property
    def batch_transfers(self) -> BatchTransfers:
        from shared.adapters.dynamodb_consumer_batches import DynamoDBBatchStore
        from shared.consumer.batches import BatchTransfers

        a = self.adapters
        return BatchTransfers(
            self.consumer,
            self._consumer_store,
            DynamoDBBatchStore(a.dynamodb, a.settings.table_name),
            self._ledger,
            a.rates,
            self._wallet_repository,
            # Built on first use: a batch of consumers only never reaches a provider.
            lambda: a.provider_router,
            a.clock,
        )

    @cached_property
    def swaps(self) -> SwapService:
        from shared.adapters.dynamodb_consumer_swaps import DynamoDBSwapStore
        from shared.consumer.swaps import SwapService

        a = self.adapters
        return SwapService(
            self.consumer,
            self._consumer_store,
            DynamoDBSwapStore(a.dynamodb, a.settings.table_name),
            self._ledger,
            a.rates,
            self._wallet_repository,
            lambda: a.provider_router,
            a.clock,
        )

    @cached_property
    def pay_requests(self) -> PayRequests:
        from shared.adapters.dynamodb_consumer_requests import DynamoDBRequestStore
        from shared.consumer.requests import PayRequests

        a = self.adapters
        return PayRequests(
            self.consumer,
            self._invoice_repository,
            DynamoDBRequestStore(a.dynamodb, a.settings.table_name),
            a.clock,
        )

    @cached_property
    def _consumer_wallets(self) -> WalletService:
        """Wallet making for the consumer function, which holds no Scheduler grant and no Stripe secret: its
        wallets are persistent and card-less (PersistentOnly and Cardless refuse if that changes)."""
        return self._persistent_wallets

    @cached_property
    def _persistent_wallets(self) -> WalletService:
        """Persistent, card-less wallets (a consumer's, a tenant's treasury): no Scheduler, no Stripe."""
        from shared.adapters.kms_keys import KmsDataKeys
        from shared.wallets.service import Cardless, PersistentOnly, WalletService

        a = self.adapters
        return WalletService(
            self._wallet_repository,
            self._invoice_repository,
            KmsDataKeys(a.kms, a.settings.kms_key_id),
            Cardless(),
            PersistentOnly(),
            a.clock,
            self._cardholder,
            self.invoices,
        )

    @cached_property
    def deposits(self) -> DepositService:
        """Consumer deposits (functions/consumer_money; completed by the webhooks function)."""
        from shared.consumer.deposits import DepositService

        a = self.adapters
        return DepositService(
            self.consumer,
            self._money_ops,
            self._wallet_repository,
            a.payments,
            self._provider_chooser,
            a.provider_router,
            self._ledger,
            a.clock,
        )

    @cached_property
    def treasury(self) -> TreasuryService:
        """A tenant's treasury wallet (made on first use) and its balances."""
        from shared.treasury.service import TreasuryService

        a = self.adapters
        return TreasuryService(
            self._wallet_repository, lambda: self._persistent_wallets, self._ledger, a.rates
        )

    @cached_property
    def treasury_deposits(self) -> DepositService:
        """Deposits into the treasury: the consumer deposit engine, its holder the treasury (no KYC
        limits; events on `admin`); completed by the webhooks function as a consumer's are."""
        from shared.consumer.deposits import DepositService
        from shared.treasury.service import TREASURY_DEPOSIT_KIND, treasury_deposit_events

        a = self.adapters
        return DepositService(
            self.treasury,
            self._money_ops,
            self._wallet_repository,
            a.payments,
            self._provider_chooser,
            a.provider_router,
            self._ledger,
            a.clock,
            kind=TREASURY_DEPOSIT_KIND,
            announce=treasury_deposit_events,
        )

    @cached_property
    def payouts(self) -> PayoutService:
        """Payroll and vendor payouts from the treasury: created and decided by the payouts function, run by
        payout_worker."""
        from shared.adapters.dynamodb_payouts import DynamoDBPayoutStore
        from shared.payouts.service import PayoutService

        a = self.adapters
        return PayoutService(
            DynamoDBPayoutStore(a.dynamodb, a.settings.table_name),
            self.consumer,
            self._consumer_store,
            self._ledger,
            self._wallet_repository,
            lambda: a.provider_router,
            lambda: a.payout_timer,
            a.clock,
            payroll=lambda: self.payroll_claims,
        )

    @cached_property
    def payroll_claims(self) -> PayrollClaims:
        """Payroll items' claim wallets and links: funded by payout_worker, claimed through the payouts
        function, returned to the treasury by destruction at expiry."""
        from shared.adapters.dynamodb_payouts import DynamoDBPayoutStore
        from shared.payouts.payroll import PayrollClaims

        a = self.adapters
        return PayrollClaims(
            DynamoDBPayoutStore(a.dynamodb, a.settings.table_name),
            self._ledger,
            self._wallet_repository,
            lambda: self._payroll_wallets,
            lambda: self.claim_links,
            self.consumer,
            self._consumer_store,
            a.clock,
        )

    @cached_property
    def claim_links(self) -> PaymentLinks:
        """Payroll claim links: the payment links' signing under the claim domain and path."""
        from shared.checkout.links import PaymentLinks
        from shared.payouts.payroll import CLAIM_LINK_DOMAIN, CLAIM_PATH

        a = self.adapters
        return PaymentLinks(
            a.payment_link_secret,
            a.clock,
            a.settings.public_base_url,
            domain=CLAIM_LINK_DOMAIN,
            path=CLAIM_PATH,
        )

    @cached_property
    def _payroll_wallets(self) -> WalletService:
        """Claim wallets: ephemeral (destruction scheduled at expiry) and card-less."""
        from shared.adapters.kms_keys import KmsDataKeys
        from shared.wallets.service import Cardless, WalletService

        a = self.adapters
        return WalletService(
            self._wallet_repository,
            self._invoice_repository,
            KmsDataKeys(a.kms, a.settings.kms_key_id),
            Cardless(),
            a.destruction_scheduler,
            a.clock,
            self._cardholder,
            self.invoices,
        )

    @cached_property
    def withdrawals(self) -> WithdrawalService:
        """Consumer withdrawals to a bank (Stripe Connect) or an address, and transfers out to an address."""
        from shared.consumer.withdrawals import WithdrawalService

        a = self.adapters
        return WithdrawalService(
            self.consumer,
            self._money_ops,
            self._wallet_repository,
            lambda: a.connect,
            self._provider_chooser,
            a.provider_router,
            self._ledger,
            a.clock,
        )

    @cached_property
    def _money_ops(self) -> Any:
        from shared.adapters.dynamodb_consumer_money import DynamoDBMoneyOpStore

        return DynamoDBMoneyOpStore(self.adapters.dynamodb, self.adapters.settings.table_name)

    @cached_property
    def _provider_chooser(self) -> ProviderChooser:
        from shared.consumer.routing import ProviderChooser

        a = self.adapters
        return ProviderChooser(lambda: a.providers, self.provider_health, a.clock)

    # -- money ----------------------------------------------------------------------------------------
    @cached_property
    def funding(self) -> FundingService:
        from shared.funding.service import FundingService

        a = self.adapters
        return FundingService(
            self._wallet_repository,
            self._funding_store,
            a.payments,
            a.provider_router,
            a.clock,
            invoices=self._invoice_repository,
        )

    @cached_property
    def stripe_events(self) -> StripeEventService:
        from shared.adapters.dynamodb_stripe_events import DynamoDBStripeEventLog
        from shared.consumer.money_events import ConsumerMoneyEvents
        from shared.stripe_events.service import StripeEventService

        a = self.adapters
        return StripeEventService(
            a.webhook_verifier,
            DynamoDBStripeEventLog(a.dynamodb, a.settings.table_name),
            self.funding,
            self._funding_store,
            a.clock,
            identity=self.kyc,
            consumer_money=ConsumerMoneyEvents(
                lambda: self.deposits, lambda: self.withdrawals, lambda: self.treasury_deposits
            ),
        )

    @cached_property
    def wallet_refunds(self) -> WalletRefundService:
        """The merchant's refund of what a wallet holds: no destruction, so no Scheduler or key table (the
        fund function serves it without either)."""
        from shared.adapters.dynamodb_wallet_refunds import DynamoDBWalletRefundStore
        from shared.funding.wallet_refund import WalletRefundService

        a = self.adapters
        return WalletRefundService(
            self._wallet_repository,
            DynamoDBWalletRefundStore(a.dynamodb, a.settings.table_name, self._ledger),
            self._funding_store,
            a.payments,
            a.provider_router,
            a.clock,
        )

    @cached_property
    def settlement(self) -> Settlement:
        from shared.adapters.dynamodb_destruction import DynamoDBDestructionStore
        from shared.adapters.dynamodb_payments import DynamoDBPaymentStore
        from shared.destruction.ports import SettleAll
        from shared.destruction.service import DestructionService
        from shared.payments.pay_invoice import PayInvoice
        from shared.payments.service import PaymentService

        a = self.adapters
        table = a.settings.table_name
        paying = PaymentService(
            self._wallet_repository,
            self._invoice_repository,
            DynamoDBPaymentStore(a.dynamodb, table, self._ledger),
            a.provider_router,
            a.clock,
        )
        refunds = self.wallet_refunds
        destruction = DestructionService(
            self._wallet_repository,
            DynamoDBDestructionStore(
                a.dynamodb, table, self._ledger, key_table_name=a.settings.key_table_name
            ),
            self._funding_store,
            a.payments,
            a.cards,
            a.destruction_scheduler,
            a.provider_router,
            a.clock,
            SettleAll(paying, refunds),
            a.destruction_metrics,
            payroll=lambda: self.payroll_claims,
        )
        pay_invoice = PayInvoice(paying, destruction, self._wallet_repository)
        return Settlement(paying, destruction, refunds, pay_invoice)

    @cached_property
    def sweeper(self) -> ClaimSweeper:
        from shared.adapters.dynamodb_card_intents import DynamoDBCardIntentStore
        from shared.adapters.dynamodb_claims import DynamoDBClaimIndex
        from shared.consumer.money_events import ConsumerMoneyFinisher
        from shared.sweeper.ports import ClaimKind
        from shared.sweeper.service import ClaimSweeper
        from shared.wallets.orphan_cards import OrphanCards

        a = self.adapters
        table = a.settings.table_name
        return ClaimSweeper(
            DynamoDBClaimIndex(a.dynamodb, table),
            self.funding,
            self.settlement.destruction,
            self._funding_store,
            a.clock,
            self.settlement.refunds,
            OrphanCards(
                DynamoDBCardIntentStore(a.dynamodb, table), self._wallet_repository, a.cards, a.clock
            ),
            consumer={
                ClaimKind.CONSUMER_MONEY: ConsumerMoneyFinisher(
                    self._money_ops,
                    lambda: self.deposits,
                    lambda: self.withdrawals,
                    lambda: self.treasury_deposits,
                ),
                ClaimKind.CONSUMER_BATCH: _Later(lambda: self.batch_transfers),
                ClaimKind.CONSUMER_SWAP: _Later(lambda: self.swaps),
            },
        )

    @cached_property
    def reconciliation(self) -> ReconciliationService:
        from shared.adapters.dynamodb_reconciliations import DynamoDBReconciliationRepository
        from shared.reserve.service import ReconciliationService

        a = self.adapters
        return ReconciliationService(
            self._ledger,
            DynamoDBReconciliationRepository(a.dynamodb, a.settings.table_name),
            self._reserve_metrics or _powertools_reserve_metrics(),
            a.clock,
            self._supply,
        )

    # -- providers, health, events --------------------------------------------------------------------
    @cached_property
    def provider_health(self) -> ProviderHealthRepository:
        return self._provider_store

    @cached_property
    def provider_history(self) -> ProviderHistory:
        return self._provider_store

    @cached_property
    def _provider_store(self) -> DynamoDBProviderHealthRepository:
        from shared.adapters.dynamodb_provider_health import DynamoDBProviderHealthRepository

        return DynamoDBProviderHealthRepository(self.adapters.dynamodb, self.adapters.settings.table_name)

    @cached_property
    def provider_checks(self) -> HealthCheckService:
        from shared.providers.service import HealthCheckService

        a = self.adapters
        return HealthCheckService(a.providers, self.provider_health, a.clock, a.provider_metrics)

    @cached_property
    def health(self) -> HealthService:
        from shared.adapters.dynamodb_health import table_check
        from shared.health.service import HealthService

        a = self.adapters
        return HealthService({"table": table_check(a.dynamodb_probe, a.settings.table_name)}, a.clock)

    @cached_property
    def realtime(self) -> RealtimeService:
        from shared.adapters.connections import DynamoConnectionStore, connections_table
        from shared.adapters.connections_snapshots import DynamoWalletSnapshots
        from shared.adapters.push import ConnectionsPusher, management_client
        from shared.realtime.invoices import RepositoryInvoiceReader
        from shared.realtime.service import RealtimeService

        a = self.adapters
        table = connections_table(a.settings)
        return RealtimeService(
            connections=DynamoConnectionStore(table),
            pusher=ConnectionsPusher(management_client(a.settings)),
            wallets=DynamoWalletSnapshots(table),
            invoices=RepositoryInvoiceReader(self._invoice_repository),
            clock=a.clock,
            history=self._event_history,
        )

    @cached_property
    def outbox(self) -> OutboxBatchProcessor:
        from shared.adapters.eventbus import EventBridgeBus, events_client
        from shared.adapters.eventbus_stream import OutboxBatchProcessor

        settings = self.adapters.settings
        return OutboxBatchProcessor(EventBridgeBus(events_client(settings), settings.event_bus_name))

    # -- repositories shared by several capabilities --------------------------------------------------
    @cached_property
    def _event_history(self) -> Any:
        from shared.adapters.dynamodb_event_history import DynamoDBEventHistory

        return DynamoDBEventHistory(self.adapters.dynamodb, self.adapters.settings.table_name)

    @cached_property
    def _invoice_repository(self) -> Any:
        from shared.adapters.dynamodb_invoices import DynamoDBInvoiceRepository

        return DynamoDBInvoiceRepository(self.adapters.dynamodb, self.adapters.settings.table_name)

    @cached_property
    def _wallet_repository(self) -> Any:
        from shared.adapters.dynamodb_wallets import DynamoDBWalletRepository

        settings = self.adapters.settings
        return DynamoDBWalletRepository(
            self.adapters.dynamodb, settings.table_name, key_table_name=settings.key_table_name
        )

    @cached_property
    def _consumer_store(self) -> Any:
        from shared.adapters.dynamodb_consumer import DynamoDBConsumerStore

        return DynamoDBConsumerStore(self.adapters.dynamodb, self.adapters.settings.table_name)

    @cached_property
    def _ledger(self) -> Any:
        from shared.adapters.dynamodb_ledger import DynamoDBLedger

        return DynamoDBLedger(self.adapters.dynamodb, self.adapters.settings.table_name)

    @cached_property
    def _funding_store(self) -> Any:
        from shared.adapters.dynamodb_funding import DynamoDBFundingStore

        return DynamoDBFundingStore(self.adapters.dynamodb, self.adapters.settings.table_name, self._ledger)

    @cached_property
    def _cardholder(self) -> CardholderProfile:
        from shared.cards.ports import CardholderAddress
        from shared.wallets.service import CardholderProfile

        s = self.adapters.settings
        # The company cardholder Stripe Issuing verifies for each tenant (the platform operates the cards on
        # its merchants' behalf).
        return CardholderProfile(
            name=s.cardholder_name,
            email=s.cardholder_email,
            address=CardholderAddress(
                line1=s.cardholder_line1,
                city=s.cardholder_city,
                postal_code=s.cardholder_postal_code,
                country=s.cardholder_country,
                state=s.cardholder_state,
            ),
        )

    @cached_property
    def _supply(self) -> SupplyReporter | None:
        """The providers' reported supply, summed over every configured provider; None when none is, so the
        providers' line says `unavailable` rather than claiming a match nobody checked."""
        from shared.reserve.service import ProvidersSupply

        a = self.adapters
        if not (a.overridden("providers") or a.settings.tempo_api_base or a.settings.circle_api_base):
            return None
        return ProvidersSupply(_providers_or_unavailable(a))


class _Later:
    """A consumer use case the sweeper finishes claims with, built only when a claim of its kind is due."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build

    def finish(self, tenant_id: str, user_id: str, record_id: str) -> str:
        return str(self._build().finish(tenant_id, user_id, record_id))


class _LaterAutoPay:
    """Requests to pay, built when a recurring invoice is made (shared/consumer/requests.py)."""

    def __init__(self, build: Callable[[], PayRequests]) -> None:
        self._build = build

    def pay_from_balance(self, invoice: Invoice) -> bool:
        return self._build().pay_from_balance(invoice)


def _providers_or_unavailable(adapters: Adapters) -> Any:
    def providers() -> Any:
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        from shared.errors import DependencyUnavailable

        try:
            return adapters.providers
        except GetParameterError as exc:
            raise DependencyUnavailable("the providers' API keys could not be read") from exc

    return providers


def _powertools_reserve_metrics() -> ReserveMetrics:
    from shared.adapters.metrics import PowertoolsReserveMetrics

    return PowertoolsReserveMetrics()
