"""API input and output schemas of the webhook endpoint routes (`/api/v1/webhook-endpoints`)."""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from shared.events.catalog import ALL_EVENTS, is_known_event
from shared.events.endpoints import EndpointPage, Opener, WebhookEndpoint
from shared.events.urls import MAX_URL_LENGTH
from shared.models.common import LongText
from shared.models.output import Output

_SCOPE = r"^(inv|wal)_[0-9a-z]{24}$"
SEALED = "sealed_secret"


def _events(names: list[str]) -> list[str]:
    if len(set(names)) != len(names):
        raise ValueError("must not repeat a name")
    if ALL_EVENTS in names and len(names) > 1:
        raise ValueError('"*" stands alone')
    unknown = [n for n in names if n != ALL_EVENTS and not is_known_event(n)]
    if unknown:
        raise ValueError(f"unknown event name(s): {', '.join(sorted(unknown))}")
    return names


EnabledEvents = Annotated[
    list[Annotated[str, Field(strict=True, min_length=1, max_length=128)]],
    Field(min_length=1, max_length=100),
    AfterValidator(_events),
]
Url = Annotated[str, Field(strict=True, min_length=1, max_length=MAX_URL_LENGTH)]


class WebhookEndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    url: Url
    enabled_events: EnabledEvents
    resource_id: Annotated[str | None, Field(strict=True, pattern=_SCOPE)] = None
    description: LongText | None = None


class WebhookEndpointPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    url: Url | None = None
    enabled: Annotated[bool | None, Field(strict=True)] = None
    enabled_events: EnabledEvents | None = None

    @model_validator(mode="after")
    def _something(self) -> WebhookEndpointPatch:
        if not self.model_fields_set or any(getattr(self, f) is None for f in self.model_fields_set):
            raise ValueError("give at least one of url, enabled, enabled_events, none of them null")
        return self


class WebhookEndpointOut(Output):
    """An endpoint as every read answers it: never its secret."""

    id: str
    url: str
    enabled_events: list[str]
    resource_id: str | None
    description: str | None
    enabled: bool
    disabled_reason: str | None
    created_at: str
    updated_at: str

    @classmethod
    def from_record(cls, endpoint: WebhookEndpoint) -> WebhookEndpointOut:
        return cls.model_validate(endpoint.to_api())


class WebhookEndpointWithSecret(WebhookEndpointOut):
    """Creation and rotation only: the new `whsec_` secret, shown this once."""

    secret: str

    @staticmethod
    def sealed(endpoint: WebhookEndpoint) -> dict[str, Any]:
        """The answer as an idempotency record keeps it: the new (last) secret still sealed."""
        return {**endpoint.to_api(), SEALED: base64.b64encode(endpoint.secrets[-1].sealed).decode()}

    @classmethod
    def revealed(cls, data: dict[str, Any], opener: Opener) -> WebhookEndpointWithSecret:
        """`sealed`'s data with its secret opened."""
        fields = dict(data)
        sealed = base64.b64decode(fields.pop(SEALED))
        return cls.of({**fields, "secret": opener.open(fields["id"], sealed)})


class WebhookEndpointPageOut(Output):
    webhook_endpoints: list[WebhookEndpointOut]
    next_cursor: str | None
    has_more: bool

    @classmethod
    def from_record(cls, page: EndpointPage) -> WebhookEndpointPageOut:
        items = [WebhookEndpointOut.from_record(e) for e in page.items]
        return cls(
            webhook_endpoints=items, next_cursor=page.next_cursor, has_more=page.next_cursor is not None
        )


class DeletedOut(Output):
    id: str
    deleted: Literal[True] = True
