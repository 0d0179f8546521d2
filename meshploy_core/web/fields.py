"""Field types shared by the request and response models of every blueprint (core, gateway,
plugins), so the same rule reads the same everywhere in the OpenAPI document.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

#: Free text without control characters (PostgreSQL cannot store NUL; nothing needs them).
NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"

Name = Annotated[str, Field(min_length=1, max_length=100, pattern=NO_CONTROL)]


class Input(BaseModel):
    """Base of request bodies: unknown fields are errors, and types are JSON's.

    Strict, because quart-schema validates the decoded JSON in Python mode, where lax pydantic
    would turn ``true`` or ``"5"`` into an integer that the OpenAPI document says is invalid.
    Fields whose JSON form is a string (UUIDs, datetimes) opt out with ``Field(strict=False)``.
    """

    model_config = ConfigDict(extra="forbid", strict=True)
