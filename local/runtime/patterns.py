"""EventBridge-syntax pattern matching for Lambda FilterCriteria, built on moto's own matcher."""

from __future__ import annotations

import json
from typing import Any

from moto.events.models import EventPattern


def _same_scalar(item: Any, expected: Any) -> bool:
    # Python says True == 1; EventBridge compares JSON values, where a boolean never equals a number.
    if isinstance(item, bool) or isinstance(expected, bool):
        return type(item) is type(expected) and item == expected
    return bool(item == expected)


class _StrictEventPattern(EventPattern):
    """moto's matcher with JSON typing kept: booleans are not numbers (exact and numeric filters)."""

    def _does_item_match_filters(self, item: Any, filters: list[Any]) -> bool:
        for expected in filters:
            if isinstance(expected, dict):
                if self._does_item_match_named_filter(item, expected):
                    return True
                continue
            values = item if isinstance(item, list) else [item]
            if any(_same_scalar(value, expected) for value in values):
                return True
        return False

    @staticmethod
    def _does_item_match_named_filter(item: Any, pattern: dict[str, Any]) -> bool:
        if "numeric" in pattern:
            values = item if isinstance(item, list) else [item]
            numbers = [v for v in values if not isinstance(v, bool)]
            return any(EventPattern._does_item_match_named_filter(v, pattern) for v in numbers)
        return EventPattern._does_item_match_named_filter(item, pattern)


class FilterCriteria:
    """Lambda's FilterCriteria: a record passes when any filter's pattern matches (no filters: all pass)."""

    def __init__(self, criteria: dict[str, Any] | None) -> None:
        filters = (criteria or {}).get("Filters") or []
        self.patterns = [_StrictEventPattern.load(_pattern_text(f.get("Pattern"))) for f in filters]

    def matches(self, record: dict[str, Any]) -> bool:
        if not self.patterns:
            return True
        return any(pattern.matches_event(record) for pattern in self.patterns)  # type: ignore[arg-type]


def _pattern_text(pattern: Any) -> str:
    # CloudFormation carries the pattern as a JSON string; a template may also inline the object.
    if isinstance(pattern, str):
        json.loads(pattern)
        return pattern
    return json.dumps(pattern)
