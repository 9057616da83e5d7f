"""Money a void or deleted invoice could strand (issue 11, finding 3) and the refunded-intent race between
the request and the webhook (finding 4), on moto with the Stripe, Tempo and Circle stand-ins live. After
every scenario the books agree exactly (funding_invariants.py): each journal sums to zero, the providers'
supply equals the reserve, and per PaymentIntent Stripe's charged - refunded equals what the ledger kept.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from shared import bootstrap
from shared.adapters.dynamodb_funding import DynamoDBFundingStore
from shared.adapters.dynamodb_invoices import DynamoDBInvoiceRepository
from shared.adapters.dynamodb_payments import DynamoDBPaymentStore
from shared.adapters.dynamodb_wallets import DynamoDBWalletRepository
from shared.auth import Principal
from shared.bootstrap import Adapters
from shared.funding.refunds import FUNDING_TOKENS, FundingRefunds, mint_key
from shared.ledger.assets import fiat_to_token
from shared.models.wallet import Wallet, to_minor
from shared.payments.ports import PaymentClaim, PaymentState
from shared.payments.service import operation_id
from tests.integration.conftest import (
    CONSUMER,
    KEY_TABLE,
    MERCHANT,
    TABLE,
    FakeLambdaContext,
    api_event,
    body_of,
)
from tests.integration.funding_invariants import Books, check_books
from tests.integration.test_funding_api import (
    SECRETS,
    Env,
    servers,  # noqa: F401  (the fixture, reused)
)
from tests.integration.test_funding_api import env as funding_env  # noqa: F401  (the fixture, reused)


class Hooked:
    """The DynamoDB client with each call atomic (moto's in-process backend is not thread-safe) and one-shot
    hooks run before or after the first call that matches."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.RLock()
        self._hooks: list[tuple[Callable[[str, dict[str, Any]], bool], str, Callable[[], None]]] = []

    def hook(
        self, matches: Callable[[str, dict[str, Any]], bool], when: str, action: Callable[[], None]
    ) -> None:
        self._hooks.append((matches, when, action))

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            hook = self._take(name, kwargs)
            if hook is not None and hook[1] == "before":
                hook[2]()
            try:
                with self._lock:
                    return method(*args, **kwargs)
            finally:
                # After the call took effect, whether it answered or raised (a lost condition, say).
                if hook is not None and hook[1] == "after":
                    hook[2]()

        return call

    def _take(self, name: str, kwargs: dict[str, Any]) -> Any:
        with self._lock:
            for hook in self._hooks:
                if hook[0](name, kwargs):
                    self._hooks.remove(hook)
                    return hook
        return None


class Charges:
    """The payment processor with a one-shot hook after the next charge."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.after_charge: Callable[[], None] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def charge(self, *args: Any, **kwargs: Any) -> Any:
        result = self._inner.charge(*args, **kwargs)
        if self.after_charge is not None:
            action, self.after_charge = self.after_charge, None
            action()
        return result


class Minting:
    """A provider with a one-shot hook after the next mint."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.after_mint: Callable[[], None] | None = None

    @property
    def name(self) -> str:
        return str(self._inner.name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def mint(self, *args: Any, **kwargs: Any) -> Any:
        result = self._inner.mint(*args, **kwargs)
        if self.after_mint is not None:
            action, self.after_mint = self.after_mint, None
            action()
        return result


class Rig:
    def __init__(self, env: Env) -> None:
        import functions.invoices.handler as invoices_fn

        self.env = env
        self.invoices_fn = invoices_fn
        self.table = Hooked(env.dynamodb)
        creating = bootstrap.app().adapters
        self.payments = Charges(creating.payments)
        self.providers = {name: Minting(p) for name, p in creating.providers.items()}
        bootstrap.use(
            Adapters(
                creating.settings,
                kms=creating.kms,
                scheduler=creating.scheduler,
                cards=creating.cards,
                dynamodb=self.table,
                payments=self.payments,
                providers=dict(self.providers),
                stripe_keys=SECRETS,
                payment_link_secret="integration-link-secret",
                clock=env.clock,
            )
        )
        self.raw_invoices = DynamoDBInvoiceRepository(env.dynamodb, TABLE)

    def wallet(self) -> tuple[str, str]:
        """A wallet of a sent invoice (payable, as the contract has funding need): the merchant's wallet
        creation sends its draft."""
        wallet_id = self.env.wallet()
        invoice_id = self.read_wallet(wallet_id).invoice_id or ""
        assert self.raw_invoices.get(MERCHANT["tenant_id"], invoice_id).status.value == "sent"
        return wallet_id, invoice_id

    def read_wallet(self, wallet_id: str) -> Wallet:
        wallet = DynamoDBWalletRepository(self.env.dynamodb, TABLE, key_table_name=KEY_TABLE).get(wallet_id)
        assert wallet is not None
        return wallet

    def fund(self, wallet_id: str, key: str | None = "fund-1") -> dict[str, Any]:
        return self.env.fund(wallet_id, key=key)

    def refund(
        self, wallet_id: str, key: str | None = "refund-1", principal: dict[str, str] = MERCHANT
    ) -> dict[str, Any]:
        headers = {"Idempotency-Key": key} if key else None
        event = api_event(
            "POST", f"/api/v2/invoice-wallets/{wallet_id}/refund", principal=principal, headers=headers
        )
        return dict(self.env.fund_fn.lambda_handler(event, FakeLambdaContext(function_name="fund")))

    def void(self, invoice_id: str) -> dict[str, Any]:
        event = api_event("POST", f"/api/v1/invoices/{invoice_id}/void")
        return dict(self.invoices_fn.lambda_handler(event, FakeLambdaContext(function_name="invoices")))

    def delete(self, invoice_id: str) -> dict[str, Any]:
        event = api_event("DELETE", f"/api/v1/invoices/{invoice_id}")
        return dict(self.invoices_fn.lambda_handler(event, FakeLambdaContext(function_name="invoices")))

    def invoice_status(self, invoice_id: str) -> str:
        invoice = self.raw_invoices.get(MERCHANT["tenant_id"], invoice_id)
        assert invoice is not None
        return invoice.status.value

    def force_status(self, invoice_id: str, status: str, deleted: bool = False) -> None:
        """A raw write, as older data or a path without the guard could have left the invoice."""
        expression = "SET #s = :s" + (", deleted_at = :at" if deleted else "")
        values = {":s": {"S": status}}
        if deleted:
            values[":at"] = {"S": "2030-01-01T12:00:00.000Z"}
        self.env.dynamodb.update_item(
            TableName=TABLE,
            Key={"pk": {"S": f"TENANT#{MERCHANT['tenant_id']}"}, "sk": {"S": f"INVOICE#{invoice_id}"}},
            UpdateExpression=expression,
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=values,
        )

    def books(self) -> Books:
        with self.env.stripe.standin.store.lock:
            objects = {k: dict(v) for k, v in self.env.stripe.standin.store.objects.items()}
        chains = [self.env.chain(self.env.tempo), self.env.chain(self.env.circle)]
        return check_books(self.env.dynamodb, objects, chains)


@pytest.fixture
def rig(funding_env: Env) -> Iterator[Rig]:  # noqa: F811
    yield Rig(funding_env)


def status_and_code(response: dict[str, Any]) -> tuple[int, str | None]:
    return response["statusCode"], body_of(response).get("code")


def funding_commit(name: str, kwargs: dict[str, Any]) -> bool:
    return name == "transact_write_items" and "LEDGER#JOURNAL#" in str(kwargs["TransactItems"])


def claim_taken(name: str, kwargs: dict[str, Any]) -> bool:
    return (
        name == "transact_write_items"
        and "'FUNDING'" in str(kwargs["TransactItems"])
        and ":provider" in str(kwargs["TransactItems"])
    )


def refund_read(name: str, kwargs: dict[str, Any]) -> bool:
    return name == "get_item" and kwargs["Key"]["sk"]["S"].startswith("FUNDREFUND#")


# -- finding 3: fund only while the invoice is payable ------------------------------------------------


def test_funding_a_void_invoice_is_invalid_state_and_charges_nothing(rig: Rig) -> None:
    wallet_id, invoice_id = rig.wallet()
    assert rig.void(invoice_id)["statusCode"] == 200
    assert status_and_code(rig.fund(wallet_id)) == (400, "invalid_state")
    assert rig.env.stripe_objects().get("payment_intent", 0) == 0
    assert rig.books().discrepancies == []


def test_a_void_between_the_charge_and_the_claim_refunds_the_charge(rig: Rig) -> None:
    wallet_id, invoice_id = rig.wallet()
    rig.payments.after_charge = lambda: rig.void(invoice_id)
    assert status_and_code(rig.fund(wallet_id)) == (400, "invalid_state")
    assert rig.invoice_status(invoice_id) == "void"
    books = rig.books()
    assert books.discrepancies == []
    assert (books.journals, books.intents_charged, books.refunds) == (0, 1, 1)


def test_an_invoice_unpayable_at_the_commit_undoes_the_mint_and_the_charge(rig: Rig) -> None:
    wallet_id, invoice_id = rig.wallet()
    # The void guard refuses while the claim is minting, so only a raw write can get here: the commit's
    # own condition on the invoice is what catches it.
    rig.table.hook(funding_commit, "before", lambda: rig.force_status(invoice_id, "void"))
    assert status_and_code(rig.fund(wallet_id)) == (400, "invalid_state")
    books = rig.books()
    assert books.discrepancies == []
    assert (books.journals, books.intents_charged, books.refunds) == (0, 1, 1)
    assert rig.env.chain(rig.env.tempo)["supply"].get("USDC", 0) == 0


# -- finding 3: void and delete refuse while money is held; the refund route ---------------------------


def test_void_and_delete_refuse_while_the_wallet_holds_money_until_it_is_refunded(rig: Rig) -> None:
    wallet_id, invoice_id = rig.wallet()
    assert rig.fund(wallet_id)["statusCode"] == 200
    assert status_and_code(rig.void(invoice_id)) == (400, "invalid_state")
    assert rig.invoice_status(invoice_id) == "sent"

    refunded = rig.refund(wallet_id)
    assert refunded["statusCode"] == 200, refunded["body"]
    assert body_of(refunded)["data"] == {"refunded": "251.00", "wallet_status": "active"}
    wallet = rig.read_wallet(wallet_id)
    assert (to_minor(wallet.balance, "USD"), wallet.status.value) == (0, "active")
    books = rig.books()
    assert books.discrepancies == []
    assert (books.journals, books.intents_charged, books.refunds) == (2, 1, 1)
    assert rig.env.chain(rig.env.tempo)["supply"].get("USDC", 0) == 0

    assert rig.void(invoice_id)["statusCode"] == 200
    assert rig.delete(invoice_id)["statusCode"] in (200, 204)
    # The invoice is void: the wallet cannot take money again, and the refunded intent never funds it.
    assert status_and_code(rig.fund(wallet_id, key="fund-2")) == (400, "invalid_state")
    assert rig.books().discrepancies == []


def test_the_refund_is_idempotent_and_an_empty_wallet_is_invalid_state(rig: Rig) -> None:
    wallet_id, _ = rig.wallet()
    assert status_and_code(rig.refund(wallet_id, key=None)) == (400, "invalid_state")
    assert rig.fund(wallet_id)["statusCode"] == 200
    first = rig.refund(wallet_id, key="r-1")
    again = rig.refund(wallet_id, key="r-1")
    assert first["statusCode"] == again["statusCode"] == 200
    assert body_of(again) == body_of(first)
    assert status_and_code(rig.refund(wallet_id, key="r-2")) == (400, "invalid_state")
    books = rig.books()
    assert books.discrepancies == [] and books.refunds == 1


def test_only_the_merchant_or_admin_may_refund(rig: Rig) -> None:
    wallet_id, _ = rig.wallet()
    assert rig.fund(wallet_id)["statusCode"] == 200
    assert rig.refund(wallet_id, principal=CONSUMER)["statusCode"] == 403
    assert rig.books().refunds == 0


def test_a_refund_that_died_after_the_burn_is_finished_once_by_the_retry(rig: Rig) -> None:
    wallet_id, _ = rig.wallet()
    assert rig.fund(wallet_id)["statusCode"] == 200
    rig.table.hook(funding_commit, "before", _die)
    assert rig.refund(wallet_id, key=None)["statusCode"] == 500
    # Burned and refunded at Stripe, not committed: the retry resumes the same claim.
    retried = rig.refund(wallet_id, key=None)
    assert retried["statusCode"] == 200, retried["body"]
    books = rig.books()
    assert books.discrepancies == []
    assert (books.journals, books.refunds) == (2, 1)


def _die() -> None:
    raise RuntimeError("the function died before the commit")


def test_a_fund_and_a_void_racing_never_strand_money(rig: Rig) -> None:
    outcomes = []
    for round_ in range(6):
        wallet_id, invoice_id = rig.wallet()
        with ThreadPoolExecutor(max_workers=2) as pool:
            funded = pool.submit(rig.fund, wallet_id, f"race-{round_}")
            voided = pool.submit(rig.void, invoice_id)
            fund_status, void_status = funded.result()["statusCode"], voided.result()["statusCode"]
        outcomes.append((fund_status, void_status))
        # Never both: a funded wallet of a void invoice is exactly the stranded money.
        assert (fund_status, void_status) in ((200, 400), (400, 200)), outcomes
        balance = to_minor(rig.read_wallet(wallet_id).balance, "USD")
        assert (balance > 0) == (fund_status == 200)
    assert rig.books().discrepancies == []


# -- destruction never depends on the invoice ----------------------------------------------------------


def test_destruction_finishes_without_replaying_a_payment_to_a_deleted_invoice(rig: Rig) -> None:
    wallet_id, invoice_id = rig.wallet()
    assert rig.fund(wallet_id)["statusCode"] == 200
    wallet = rig.read_wallet(wallet_id)
    asset = FUNDING_TOKENS["USD"]
    amount = to_minor(wallet.balance, "USD")
    # A payment left in flight by a provider timeout (the transfer never landed), from older data.
    DynamoDBPaymentStore(rig.env.dynamodb, TABLE).claim(
        wallet,
        PaymentClaim(
            wallet_id=wallet_id,
            tenant_id=wallet.tenant_id,
            operation_id=operation_id(wallet_id, 1),
            amount_minor=amount,
            token_amount=fiat_to_token(amount, "USD", asset.value),
            token=asset.value,
            provider=wallet.provider or "",
            source=wallet.evm_address,
            destination="0x" + "9" * 40,
            state=PaymentState.IN_FLIGHT,
            actor=MERCHANT["sub"],
            created_at=rig.env.clock.now(),
        ),
    )
    rig.force_status(invoice_id, "void", deleted=True)
    rig.env.clock.advance(hours=2)
    outcome = bootstrap.app().settlement.destruction.destroy(wallet_id, "schedule")
    assert outcome.result == "destroyed"
    assert rig.read_wallet(wallet_id).status.value == "destroyed"
    transfers = [op for op in rig.env.chain(rig.env.tempo)["operations"] if op["kind"] == "transfer"]
    assert transfers == []
    books = rig.books()
    assert books.discrepancies == [] and books.refunds == 1


# -- finding 4: the refunded intent never funds the wallet --------------------------------------------

RACE_STEPS = ["after_refund_read", "after_claim", "after_mint", "before_commit"]


@pytest.mark.parametrize("step", RACE_STEPS)
def test_the_webhook_racing_the_requests_refund_never_funds_a_refunded_intent(rig: Rig, step: str) -> None:
    wallet_id, _ = rig.wallet()
    wallet = rig.read_wallet(wallet_id)
    adapters = bootstrap.app().adapters
    raw = DynamoDBFundingStore(rig.env.dynamodb, TABLE)
    amount = to_minor(wallet.spending_limit, "USD")
    # The request: charged, claimed and minted; the mint's answer timed out.
    payment = adapters.payments.charge(
        amount, "USD", "pm_card_visa", "race-charge", {"wallet_id": wallet_id, "tenant_id": wallet.tenant_id}
    )
    who = Principal(MERCHANT["sub"], wallet.tenant_id, frozenset({"merchant"}))
    raw.claim(wallet, payment.intent_id, "tempo", "race-charge", rig.env.clock.now())
    asset = FUNDING_TOKENS["USD"]
    tokens = fiat_to_token(amount, "USD", asset.value)
    adapters.providers["tempo"].mint(asset, tokens, wallet.evm_address, mint_key(payment.intent_id))

    def request_undoes_it() -> None:
        undo = FundingRefunds(raw, adapters.payments, adapters.provider_router)
        undo.refund(who, rig.read_wallet(wallet_id), payment, "mint_failed", rig.env.clock.now())

    if step == "after_refund_read":
        rig.table.hook(refund_read, "after", request_undoes_it)
    elif step == "after_claim":
        rig.table.hook(claim_taken, "after", request_undoes_it)
    elif step == "after_mint":
        rig.providers["tempo"].after_mint = request_undoes_it
    else:
        rig.table.hook(funding_commit, "before", request_undoes_it)
    answer = bootstrap.app().funding.complete_payment(payment)

    assert answer == "refunded"
    after = rig.read_wallet(wallet_id)
    assert (after.status.value, to_minor(after.balance, "USD")) == ("active", 0)
    books = rig.books()
    assert books.discrepancies == []
    assert (books.journals, books.intents_charged, books.refunds) == (0, 1, 1)
    assert rig.env.chain(rig.env.tempo)["supply"].get("USDC", 0) == 0


def test_a_pay_and_a_refund_racing_move_the_money_once(rig: Rig) -> None:
    import functions.pay.handler as pay_fn

    def pay(wallet_id: str) -> dict[str, Any]:
        event = api_event(
            "POST", f"/api/v2/invoice-wallets/{wallet_id}/pay-invoice", body={"amount": "51.00"}
        )
        return dict(pay_fn.lambda_handler(event, FakeLambdaContext(function_name="pay")))

    for round_ in range(4):
        wallet_id, _ = rig.wallet()
        assert rig.fund(wallet_id, key=f"fund-{round_}")["statusCode"] == 200
        with ThreadPoolExecutor(max_workers=2) as pool:
            paid = pool.submit(pay, wallet_id)
            refunded = pool.submit(rig.refund, wallet_id, f"refund-{round_}")
            pay_answer, refund_answer = paid.result(), refunded.result()
        assert pay_answer["statusCode"] in (200, 400, 409), pay_answer["body"]
        assert refund_answer["statusCode"] in (200, 409), refund_answer["body"]
        if refund_answer["statusCode"] == 200:
            left = "200.00" if pay_answer["statusCode"] == 200 else "251.00"
            assert body_of(refund_answer)["data"]["refunded"] == left
        assert rig.books().discrepancies == []
