"""Reconcile function: the daily reserve reconciliation (schedule), on demand, and its history (operator)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from shared.api import Answer, caller, ok, page_of, rest_function
from shared.api.idempotency import IdempotencyKey, Outcome, idempotent
from shared.bootstrap import app as capabilities
from shared.reserve.output import ReconciliationOut, ReconciliationPage

logger = Logger()
metrics = Metrics()
router = APIGatewayRouter()


@router.post("/api/v2/reserve/reconcile", summary="Reconcile the reserve now (operator)")
def reconcile(idempotency_key: IdempotencyKey = None) -> Answer[ReconciliationOut]:
    principal = caller(router)

    def run() -> Outcome:
        return 200, ReconciliationOut.of(
            capabilities().reconciliation.reconcile_on_request(principal).to_api()
        )

    return idempotent(router, principal, idempotency_key, None, run)


@router.get("/api/v2/reserve/reconciliations", summary="Reconciliation records, newest day first (operator)")
def reconciliations(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> Answer[ReconciliationPage]:
    page = capabilities().reconciliation.history(caller(router), limit, cursor)
    records = [record.to_api() for record in page.items]
    return ok(ReconciliationPage.of(page_of("reconciliations", records, page.next_cursor)))


app, handle_api_request = rest_function(router)


def _scheduled() -> dict[str, Any]:
    record = capabilities().reconciliation.reconcile_on_schedule()
    logger.info("reserve reconciled", extra={"date": record.date.isoformat(), "status": record.status.value})
    return {"date": record.date.isoformat(), "status": record.status.value, "runs": record.runs}


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "httpMethod" in event:
        return handle_api_request(event, context)
    if event.get("detail-type") == "Scheduled Event" and event.get("source") == "aws.events":
        return _scheduled()
    raise ValueError("reconcile: unrecognised event shape")
