"""The shape of the generated operation table (:mod:`meshploy_core.client.operations`).

One :class:`Operation` per operation of the OpenAPI document: how to call it (method, path,
parameters, body), what it needs (permission) and what it does (writes, destructive). The CLI
and the MCP server are built from this table, so they cover every operation by construction.
Schemas are JSON Schema as the document has them; ``$ref`` points into
:data:`meshploy_core.client.operations.SCHEMAS`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

REF_PREFIX = "#/components/schemas/"


class Unset(enum.Enum):
    """The type of :data:`UNSET`: an argument the caller did not give (the server's default
    applies), as opposed to an explicit ``None`` (JSON null)."""

    UNSET = "UNSET"


UNSET: Final = Unset.UNSET


@dataclass(frozen=True)
class Param:
    """A path or query parameter."""

    name: str
    location: Literal["path", "query"]
    required: bool
    schema: Mapping[str, Any]
    description: str = ""


@dataclass(frozen=True)
class Operation:
    """One API operation, as the OpenAPI document describes it."""

    operation_id: str
    method: str
    path: str
    noun: str
    verb: str
    summary: str
    description: str
    permission: str | None
    writes: bool
    destructive: bool
    params: tuple[Param, ...]
    body: Mapping[str, Any] | None
    body_required: bool
    success_status: int
    response: Mapping[str, Any] | None

    @property
    def public(self) -> bool:
        """Whether the operation needs no credentials."""
        return self.permission is None

    @property
    def read_only(self) -> bool:
        """Whether the operation changes nothing."""
        return not self.writes

    @property
    def path_params(self) -> tuple[Param, ...]:
        """Path parameters, in path order."""
        return tuple(p for p in self.params if p.location == "path")

    @property
    def query_params(self) -> tuple[Param, ...]:
        """Query-string parameters."""
        return tuple(p for p in self.params if p.location == "query")

    @property
    def body_fields(self) -> Mapping[str, Mapping[str, Any]]:
        """The body's top-level properties (empty without a body)."""
        if self.body is None:
            return {}
        props = self.body.get("properties") or {}
        return dict(props)

    @property
    def required_body_fields(self) -> tuple[str, ...]:
        """Body properties the server requires."""
        if self.body is None:
            return ()
        return tuple(self.body.get("required") or ())

    @property
    def paginated(self) -> bool:
        """Whether the operation is a cursor-paginated list."""
        return any(p.name == "cursor" for p in self.query_params)

    def argument_names(self) -> tuple[str, ...]:
        """Every argument name (path, query, body); unique within an operation."""
        return tuple(p.name for p in self.params) + tuple(self.body_fields)


def ref_name(schema: Mapping[str, Any]) -> str | None:
    """The component a ``{"$ref": ...}`` schema names, or None."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith(REF_PREFIX):
        return ref[len(REF_PREFIX) :]
    return None
