"""Stripe's bracket syntax for form bodies and query strings."""

from __future__ import annotations

import pytest

from local.stripe.errors import StripeError
from local.stripe.forms import decode


def test_nested_hashes_indexed_arrays_and_appends() -> None:
    params = decode(
        "spending_controls[spending_limits][1][amount]=200&spending_controls[spending_limits][0][amount]=100"
        "&spending_controls[spending_limits][0][interval]=all_time&metadata[wallet_id]=wal_1"
        "&expand[]=latest_charge&expand[]=customer&amount=5"
    )
    assert params == {
        "spending_controls": {
            "spending_limits": [{"amount": "100", "interval": "all_time"}, {"amount": "200"}]
        },
        "metadata": {"wallet_id": "wal_1"},
        "expand": ["latest_charge", "customer"],
        "amount": "5",
    }


def test_blank_values_survive_for_metadata_unsets() -> None:
    assert decode("metadata=") == {"metadata": ""}
    assert decode("metadata[note]=") == {"metadata": {"note": ""}}


@pytest.mark.parametrize("body", ["a[b=1", "a=1&a[b]=2", "a=1&a=2"])
def test_malformed_or_conflicting_keys_are_400(body: str) -> None:
    with pytest.raises(StripeError) as caught:
        decode(body)
    assert caught.value.status == 400
