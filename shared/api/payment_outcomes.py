"""Payment outcomes of the money routes (fund, pay) as metrics: `PaymentAttempts` for every attempt that
reached the money, `PaymentFailures` (0 or 1) for each that failed: declined (402), a provider or dependency
unavailable (503) or a bug. A domain refusal (invalid state, short balance, not found, a conflict) is the
caller's answer, not a payment attempt, and counts in neither. The failure-rate alarm divides the two."""

from __future__ import annotations

from collections.abc import Callable

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from shared.api.idempotency import Outcome
from shared.errors import PaymentFailed, WalletsError

PAYMENT_ATTEMPTS = "PaymentAttempts"
PAYMENT_FAILURES = "PaymentFailures"


def is_payment_failure(error: BaseException) -> bool:
    if isinstance(error, WalletsError):
        return isinstance(error, PaymentFailed) or error.status >= 500
    return True


def counted(metrics: Metrics, operation: Callable[[], Outcome]) -> Callable[[], Outcome]:
    """`operation`, counting its outcome on `metrics` (a replayed idempotent answer never runs it)."""

    def run() -> Outcome:
        try:
            outcome = operation()
        except Exception as error:
            if is_payment_failure(error):
                _count(metrics, failed=True)
            raise
        _count(metrics, failed=False)
        return outcome

    return run


def _count(metrics: Metrics, *, failed: bool) -> None:
    metrics.add_metric(name=PAYMENT_ATTEMPTS, unit=MetricUnit.Count, value=1)
    metrics.add_metric(name=PAYMENT_FAILURES, unit=MetricUnit.Count, value=1 if failed else 0)
