"""Payment outcomes counted for the failure-rate alarm: attempts, and failures among them."""

from __future__ import annotations

from typing import Any

import pytest

from shared.api.payment_outcomes import counted
from shared.errors import (
    ConcurrentUpdate,
    DependencyUnavailable,
    InsufficientBalance,
    InvalidState,
    NotFound,
    PaymentFailed,
    ProviderUnavailable,
)


class RecordingMetrics:
    def __init__(self) -> None:
        self.values: dict[str, list[float]] = {}

    def add_metric(self, name: str, unit: Any, value: float) -> None:
        self.values.setdefault(name, []).append(value)


def run(error: Exception | None) -> dict[str, list[float]]:
    metrics = RecordingMetrics()

    def operation() -> tuple[int, dict[str, Any]]:
        if error is not None:
            raise error
        return 200, {}

    if error is None:
        assert counted(metrics, operation)() == (200, {})  # type: ignore[arg-type]
    else:
        with pytest.raises(type(error)):
            counted(metrics, operation)()  # type: ignore[arg-type]
    return metrics.values


def test_a_success_is_an_attempt_that_did_not_fail() -> None:
    assert run(None) == {"PaymentAttempts": [1], "PaymentFailures": [0]}


@pytest.mark.parametrize(
    "error",
    [PaymentFailed("declined"), ProviderUnavailable("down"), DependencyUnavailable("busy"), KeyError("bug")],
    ids=["declined", "provider", "dependency", "bug"],
)
def test_declines_outages_and_bugs_are_failed_attempts(error: Exception) -> None:
    assert run(error) == {"PaymentAttempts": [1], "PaymentFailures": [1]}


@pytest.mark.parametrize(
    "error",
    [InvalidState("paid"), InsufficientBalance("short"), NotFound("gone"), ConcurrentUpdate("retry")],
    ids=["invalid_state", "short", "not_found", "conflict"],
)
def test_a_domain_refusal_is_not_a_payment_attempt(error: Exception) -> None:
    assert run(error) == {}
