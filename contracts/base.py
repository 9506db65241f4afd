"""Base model every contract inherits: frozen, and unknown keys are an error."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Contract(BaseModel):
    """A frozen pydantic model that rejects unknown keys.

    Contracts cross process boundaries (HTTP, the bus, Postgres JSON), so a typo in a
    field name must fail loudly at the edge instead of being silently dropped.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)
