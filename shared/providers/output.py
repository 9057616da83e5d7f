"""The provider-health routes' answers (the envelope's `data`), as shared/providers/views.py writes them."""

from typing import Annotated, Literal

from pydantic import Field

from shared.models.output import Output, Page


class ProviderHealthOut(Output):
    name: str
    status: str
    latency: int | None
    successRate: float | None


class ProvidersHealth(Output):
    """`GET /api/v1/providers/health`."""

    providers: list[ProviderHealthOut]


class ProviderStatusOut(Output):
    status: str
    latency: int | None
    tps: float | None
    error_rate: float | None
    checked_at: str | None
    circuit: str


class ProviderHealthStatus(Output):
    """`GET /api/v2/provider-health/status`: each provider, the primary, and the server's time."""

    tempo: ProviderStatusOut
    circle: ProviderStatusOut
    primary: str | None
    timestamp: str


class HealthCheckEntry(Output):
    type: Literal["check"]
    provider: str
    status: str
    latency_ms: int | None
    error_rate: float | None
    tps: float | None
    checked_at: str


class PrimaryChangeEntry(Output):
    type: Literal["primary_change"]
    from_: str | None = Field(alias="from")
    to: str | None
    reason: str | None
    changed_at: str


HistoryEntry = Annotated[HealthCheckEntry | PrimaryChangeEntry, Field(discriminator="type")]


class ProviderHistoryPage(Page):
    """`GET /api/v2/provider-health/history`: checks and changes of primary, newest first."""

    history: list[HistoryEntry]
