"""FilterCriteria semantics over a DynamoDB stream record, table-driven (EventBridge pattern syntax)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.runtime.patterns import FilterCriteria

TTL_REMOVE: dict[str, Any] = {
    "eventName": "REMOVE",
    "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
    "dynamodb": {
        "Keys": {"pk": {"S": "LEASE#wal_1"}},
        "OldImage": {"pk": {"S": "LEASE#wal_1"}, "ttl": {"N": "5"}, "open": {"BOOL": True}, "n": {"N": "7"}},
    },
}

CASES: list[tuple[str, dict[str, Any], bool]] = [
    ("exact", {"eventName": ["REMOVE"]}, True),
    ("exact miss", {"eventName": ["INSERT"]}, False),
    ("one of", {"eventName": ["INSERT", "REMOVE"]}, True),
    ("prefix", {"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "LEASE#"}]}}}}, True),
    ("prefix miss", {"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "OUTBOX#"}]}}}}, False),
    ("suffix", {"dynamodb": {"Keys": {"pk": {"S": [{"suffix": "_1"}]}}}}, True),
    ("anything-but list", {"eventName": [{"anything-but": ["INSERT", "MODIFY"]}]}, True),
    ("anything-but miss", {"eventName": [{"anything-but": "REMOVE"}]}, False),
    (
        "anything-but prefix",
        {"dynamodb": {"Keys": {"pk": {"S": [{"anything-but": {"prefix": "LEASE#"}}]}}}},
        False,
    ),
    ("exists", {"userIdentity": {"principalId": [{"exists": True}]}}, True),
    ("not exists", {"userIdentity": {"principalId": [{"exists": False}]}}, False),
    ("absent image", {"dynamodb": {"NewImage": {"pk": {"S": [{"exists": False}]}}}}, True),
    ("ignore case", {"eventName": [{"equals-ignore-case": "remove"}]}, True),
    ("bool", {"dynamodb": {"OldImage": {"open": {"BOOL": [True]}}}}, True),
    ("bool is not 1", {"dynamodb": {"OldImage": {"open": {"BOOL": [1]}}}}, False),
    ("numbers are strings in DynamoDB JSON", {"dynamodb": {"OldImage": {"n": {"N": [7]}}}}, False),
    ("string number", {"dynamodb": {"OldImage": {"n": {"N": ["7"]}}}}, True),
    ("numeric on string", {"dynamodb": {"OldImage": {"n": {"N": [{"numeric": [">", 1]}]}}}}, False),
    ("$or", {"$or": [{"eventName": ["INSERT"]}, {"userIdentity": {"type": ["Service"]}}]}, True),
    ("and across fields", {"eventName": ["REMOVE"], "userIdentity": {"type": ["User"]}}, False),
    (
        "ttl removal filter",
        {"eventName": ["REMOVE"], "userIdentity": {"principalId": ["dynamodb.amazonaws.com"]}},
        True,
    ),
]


@pytest.mark.parametrize(("name", "pattern", "expected"), CASES, ids=[c[0] for c in CASES])
def test_single_filter(name: str, pattern: dict[str, Any], expected: bool) -> None:
    criteria = FilterCriteria({"Filters": [{"Pattern": json.dumps(pattern)}]})
    assert criteria.matches(TTL_REMOVE) is expected


def test_numeric_filter_on_a_number() -> None:
    criteria = FilterCriteria(
        {"Filters": [{"Pattern": json.dumps({"size": [{"numeric": [">", 1, "<=", 5]}]})}]}
    )
    assert criteria.matches({"size": 5}) is True
    assert criteria.matches({"size": 6}) is False
    assert criteria.matches({"size": True}) is False


def test_filters_are_ored_and_none_means_all() -> None:
    criteria = FilterCriteria(
        {
            "Filters": [
                {"Pattern": json.dumps({"eventName": ["INSERT"]})},
                {"Pattern": '{"eventName": ["REMOVE"]}'},
            ]
        }
    )
    assert criteria.matches(TTL_REMOVE) is True
    assert criteria.matches({"eventName": "MODIFY"}) is False
    assert FilterCriteria(None).matches({"eventName": "MODIFY"}) is True


def test_invalid_pattern_is_rejected() -> None:
    with pytest.raises(ValueError):
        FilterCriteria({"Filters": [{"Pattern": "{not json"}]})
