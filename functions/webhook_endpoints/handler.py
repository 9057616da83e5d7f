"""Webhook endpoints function: a tenant's endpoints, their whsec_ secrets (shown once) and rotation."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from shared.api import Answer, answer, caller, ok, rest_function
from shared.api.idempotency import IdempotencyKey, Outcome, idempotent
from shared.bootstrap import app as capabilities
from shared.models import webhooks as m

metrics = Metrics()
router = APIGatewayRouter()
BASE = "/api/v1/webhook-endpoints"
Limit = Annotated[int, Query(ge=1, le=100)]
WithSecret = Answer[m.WebhookEndpointWithSecret]


def _with_secret(data: dict[str, Any]) -> m.WebhookEndpointWithSecret:
    # Sealed in the idempotency record as in the endpoint; opened only for the answer.
    return m.WebhookEndpointWithSecret.revealed(data, capabilities().webhook_endpoints)


@router.post(
    BASE,
    summary="Create a webhook endpoint; its whsec_ secret is answered this once",
    responses={
        201: answer(m.WebhookEndpointWithSecret, "the endpoint and its secret"),
        400: {"description": "validation_error (URL, event names); limit_exceeded (endpoints per tenant)"},
    },
)
def create(
    body: m.WebhookEndpointCreate, idempotency_key: IdempotencyKey = None
) -> Answer[m.WebhookEndpointWithSecret]:
    principal = caller(router)

    def run() -> Outcome:
        endpoint, _ = capabilities().webhook_endpoints.create(
            principal, body.url, body.enabled_events, body.resource_id, body.description
        )
        return 201, m.WebhookEndpointWithSecret.sealed(endpoint)

    return idempotent(router, principal, idempotency_key, body, run, _with_secret)


@router.get(BASE, summary="The tenant's webhook endpoints, newest first")
def list_endpoints(
    limit: Limit = 20, cursor: Annotated[str | None, Query(max_length=1024)] = None
) -> Answer[m.WebhookEndpointPageOut]:
    page = capabilities().webhook_endpoints.page(caller(router), limit, cursor)
    return ok(m.WebhookEndpointPageOut.from_record(page))


@router.get(f"{BASE}/<endpoint_id>", summary="Read one webhook endpoint (never its secret)")
def get_endpoint(endpoint_id: str) -> Answer[m.WebhookEndpointOut]:
    endpoint = capabilities().webhook_endpoints.get(caller(router), endpoint_id)
    return ok(m.WebhookEndpointOut.from_record(endpoint))


@router.patch(f"{BASE}/<endpoint_id>", summary="Change url, enabled or enabled_events")
def update_endpoint(endpoint_id: str, body: m.WebhookEndpointPatch) -> Answer[m.WebhookEndpointOut]:
    changes = body.model_dump(exclude_unset=True)
    endpoint = capabilities().webhook_endpoints.update(caller(router), endpoint_id, changes)
    return ok(m.WebhookEndpointOut.from_record(endpoint))


@router.delete(f"{BASE}/<endpoint_id>", summary="Delete a webhook endpoint")
def delete_endpoint(endpoint_id: str) -> Answer[m.DeletedOut]:
    capabilities().webhook_endpoints.delete(caller(router), endpoint_id)
    return ok(m.DeletedOut(id=endpoint_id, deleted=True))


@router.post(
    f"{BASE}/<endpoint_id>/rotate-secret",
    summary="A new secret; the old one keeps signing beside it for 24 hours",
    responses={200: answer(m.WebhookEndpointWithSecret, "the endpoint and its new secret")},
)
def rotate_secret(
    endpoint_id: str, idempotency_key: IdempotencyKey = None
) -> Answer[m.WebhookEndpointWithSecret]:
    principal = caller(router)

    def run() -> Outcome:
        endpoint, _ = capabilities().webhook_endpoints.rotate_secret(principal, endpoint_id)
        return 200, m.WebhookEndpointWithSecret.sealed(endpoint)

    return idempotent(router, principal, idempotency_key, None, run, _with_secret)


app, lambda_handler = rest_function(router, metrics=metrics)
