"""The base of the API's typed output models (each capability's `output.py`): what a route answers inside
the envelope's `data`, field for field.

Routes validate their service's answer into one of these (`Model.of(data)`) and `shared.api.ok` dumps it
with `exclude_unset`, so the JSON a client gets is exactly the service's answer: a field the model does not
know is refused (extra="forbid", a bug a test sees as a 500) rather than dropped. The models build their
validators on first use (`defer_build`), so defining them costs a function's cold start little. The output
modules do not use `from __future__ import annotations`: pydantic would evaluate every string annotation when
it creates the class, about a third of their import time (the annotations they use are all 3.11 syntax).
"""

from typing import Any, Self

from pydantic import BaseModel, ConfigDict


class Output(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    @classmethod
    def of(cls, data: Any) -> Self:
        """The service's answer as this model (ValidationError if it does not fit: a bug)."""
        return cls.model_validate(data)

    def to_data(self) -> dict[str, Any]:
        """The answer as JSON-ready data: only the fields the answer had, under their wire names."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


class Page(Output):
    """The cursor fields every list answer carries beside its items."""

    next_cursor: str | None
    has_more: bool
