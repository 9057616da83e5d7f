"""The composition root: one `Capabilities` per process over lazily built `Adapters`.

Handlers ask `app()` for the capability their route needs and hold no wiring of their own; tests install
their own adapters with `use(Adapters(settings, dynamodb=..., clock=...))`, as cosmicpython's bootstrap takes
its unit of work and notifications by parameter.
"""

from __future__ import annotations

from typing import Any

from shared.bootstrap.adapters import Adapters
from shared.bootstrap.capabilities import Capabilities, Settlement

__all__ = ["Adapters", "Capabilities", "Settlement", "app", "reset", "use"]

_current: Capabilities | None = None


def app() -> Capabilities:
    """The process's capabilities, composed on first use (never at import: secrets and clients wait)."""
    global _current
    if _current is None:
        _current = Capabilities(Adapters())
    return _current


def use(adapters: Adapters, **options: Any) -> Capabilities:
    """Install capabilities over `adapters` for this process (tests, benches, the local runtime's probes)."""
    global _current
    _current = Capabilities(adapters, **options)
    return _current


def reset() -> None:
    """Forget the installed capabilities: the next `app()` composes from the environment again."""
    global _current
    _current = None
