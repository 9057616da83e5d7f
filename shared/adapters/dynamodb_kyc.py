"""KycStore on the one table: the person's current verification on their profile (`kyc_verification`,
`kyc_sessions`) and one `KYCSESSION#{session id}`/`SESSION` item per Stripe Identity session this system
created, naming whom it was created for (a webhook's metadata is checked against it, never trusted alone)."""

from __future__ import annotations

from typing import Any

from shared.adapters.dynamodb_consumer import PROFILE, consumer_pk
from shared.adapters.dynamodb_events import transact_write
from shared.adapters.dynamodb_table import from_item, get_consistent, put_new, translated_errors, value
from shared.consumer.ports import SessionOwner
from shared.consumer.records import Profile, Verification, VerificationStatus
from shared.outbox.records import Record, iso

SESSION = "SESSION"


def session_key(session_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"KYCSESSION#{session_id}"}, "sk": {"S": SESSION}}


def _profile_key(profile: Profile) -> dict[str, Any]:
    return {"pk": {"S": consumer_pk(profile.tenant_id, profile.user_id)}, "sk": {"S": PROFILE}}


class DynamoDBKycStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def record_session(self, profile: Profile, verification: Verification, attempt: int) -> None:
        counted = "attribute_not_exists(#sessions)" if attempt == 0 else "#sessions = :attempt"
        update = {
            "Update": {
                "TableName": self._table,
                "Key": _profile_key(profile),
                "UpdateExpression": "SET #verification = :verification, #sessions = :next, #updated = :now",
                "ConditionExpression": f"attribute_exists(pk) AND {counted}",
                "ExpressionAttributeNames": {
                    "#verification": "kyc_verification",
                    "#sessions": "kyc_sessions",
                    "#updated": "updated_at",
                },
                "ExpressionAttributeValues": {
                    ":verification": value(verification.to_record()),
                    ":next": value(attempt + 1),
                    ":now": value(iso(verification.created_at)),
                    **({":attempt": value(attempt)} if attempt else {}),
                },
            }
        }
        owner = {
            **from_item(session_key(verification.session_id)),
            "entity": "kyc_session",
            "tenant_id": profile.tenant_id,
            "user_id": profile.user_id,
            **verification.to_record(),
        }
        with translated_errors():
            transact_write(self._client, [update, put_new(self._table, owner)])

    def session_owner(self, session_id: str) -> SessionOwner | None:
        item = get_consistent(self._client, self._table, session_key(session_id))
        if item is None:
            return None
        return SessionOwner(
            item["tenant_id"]["S"], item["user_id"]["S"], int(item["level"]["N"]), item["status"]["S"]
        )

    def raise_level(self, profile: Profile, verification: Verification, records: list[Record]) -> None:
        current = (
            profile.verification is not None and profile.verification.session_id == verification.session_id
        )
        names = {"#level": "kyc_level", "#updated": "updated_at"}
        values = {":level": value(verification.level), ":now": value(iso(verification.created_at))}
        expression = "SET #level = :level, #updated = :now"
        if current:
            names["#verification"] = "kyc_verification"
            values[":verification"] = value(verification.to_record())
            expression += ", #verification = :verification"
        operations = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": _profile_key(profile),
                    "UpdateExpression": expression,
                    # The rise itself: only ever upwards, whatever order webhooks arrive in.
                    "ConditionExpression": "attribute_exists(pk) AND #level < :level",
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            },
            self._session_update(verification),
            *(put_new(self._table, record) for record in records),
        ]
        with translated_errors():
            transact_write(self._client, operations)

    def mark_session(self, profile: Profile, verification: Verification, records: list[Record]) -> None:
        operations: list[dict[str, Any]] = [
            self._session_update(verification),
            *(put_new(self._table, record) for record in records),
        ]
        current = profile.verification
        if (
            current is not None
            and current.session_id == verification.session_id
            and current.status is not VerificationStatus.VERIFIED
        ):
            operations.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": _profile_key(profile),
                        "UpdateExpression": "SET #verification = :verification",
                        # Still this session, and not verified meanwhile (a late requires_input never
                        # hides a rise).
                        "ConditionExpression": "#verification.#sid = :sid AND #verification.#status <> :done",
                        "ExpressionAttributeNames": {
                            "#verification": "kyc_verification",
                            "#sid": "verification_session_id",
                            "#status": "status",
                        },
                        "ExpressionAttributeValues": {
                            ":verification": value(verification.to_record()),
                            ":sid": value(verification.session_id),
                            ":done": value(VerificationStatus.VERIFIED.value),
                        },
                    }
                }
            )
        with translated_errors():
            transact_write(self._client, operations)

    def _session_update(self, verification: Verification) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self._table,
                "Key": session_key(verification.session_id),
                "UpdateExpression": "SET #status = :status, #error = :error",
                "ConditionExpression": "attribute_exists(pk) AND #status <> :done",
                "ExpressionAttributeNames": {"#status": "status", "#error": "last_error"},
                "ExpressionAttributeValues": {
                    ":status": value(verification.status.value),
                    ":error": value(verification.last_error),
                    ":done": value(VerificationStatus.VERIFIED.value),
                },
            }
        }
