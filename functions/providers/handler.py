"""Routes of this function are declared in the stack; until its issue lands each answers the contract's 404."""

from __future__ import annotations

import json
from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    body = {"success": False, "error": "Not found", "code": "not_found", "details": []}
    return {"statusCode": 404, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}
