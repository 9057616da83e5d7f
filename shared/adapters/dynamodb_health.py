"""A cheap probe of the table: one DescribeTable, "ok" while it is ACTIVE."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def table_check(client: Any, table_name: str) -> Callable[[], str]:
    def check() -> str:
        status = client.describe_table(TableName=table_name)["Table"]["TableStatus"]
        return "ok" if status in ("ACTIVE", "UPDATING") else f"table {status.lower()}"

    return check
