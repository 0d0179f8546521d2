"""MCP tool definitions from the operation table: one tool per API operation.

* name: the operationId (``create_project``); title and description from the operation's
  summary and description, with its method, path and permission;
* input schema: one flat object of the operation's path, query and body arguments, taken
  from the OpenAPI document (component references inlined under ``$defs``); ``org_id`` is
  optional and defaults to ``MESHPLOY_ORG_ID`` / the stored login's organization;
* annotations: ``readOnlyHint`` for operations that do not write; ``destructiveHint`` for
  those the document marks destructive (deletes, rollback, cancel, role, member and token
  changes), whose description then begins with ``DESTRUCTIVE``; ``idempotentHint`` for
  GET, PUT and DELETE; ``openWorldHint`` false (only this Meshploy is touched).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from meshploy_core.client.operations import OPERATIONS, SCHEMAS
from meshploy_core.client.spec import REF_PREFIX, Operation

DEFS_PREFIX = "#/$defs/"
IDEMPOTENT_METHODS = ("GET", "PUT", "DELETE")
_DESTRUCTIVE_WORD = re.compile(r"\s*\bDESTRUCTIVE\b[.:]?\s*")


def _rewrite(schema: Any, needed: set[str]) -> Any:
    """``schema`` with component references pointing into ``$defs`` (names collected)."""
    if isinstance(schema, Mapping):
        out: dict[str, Any] = {}
        for key, value in schema.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(REF_PREFIX):
                name = value[len(REF_PREFIX) :]
                needed.add(name)
                out[key] = DEFS_PREFIX + name
            else:
                out[key] = _rewrite(value, needed)
        return out
    if isinstance(schema, list):
        return [_rewrite(item, needed) for item in schema]
    return schema


def _defs(needed: set[str]) -> dict[str, Any]:
    """The component schemas ``needed`` refers to, and theirs, transitively."""
    defs: dict[str, Any] = {}
    pending = sorted(needed)
    while pending:
        name = pending.pop()
        if name in defs:
            continue
        more: set[str] = set()
        defs[name] = _rewrite(SCHEMAS[name], more)
        pending += sorted(more - set(defs))
    return dict(sorted(defs.items()))


def input_schema(op: Operation) -> dict[str, Any]:
    """The tool's input schema: path, query and body arguments as one object."""
    needed: set[str] = set()
    props: dict[str, Any] = {}
    required: list[str] = []
    for param in op.params:
        schema = dict(_rewrite(param.schema, needed))
        text = param.description
        if param.name == "org_id":
            text = "Organization id; defaults to the configured organization (MESHPLOY_ORG_ID)."
        elif param.location == "path" and not text:
            text = f"The {param.name.removesuffix('_id').replace('_', ' ')}'s id."
        if text:
            schema["description"] = text
        props[param.name] = schema
        if param.required and param.name != "org_id":
            required.append(param.name)
    for name, field in op.body_fields.items():
        props[name] = _rewrite(field, needed)
    required += [name for name in op.required_body_fields if name not in required]
    result: dict[str, Any] = {
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": False,
    }
    if needed:
        result["$defs"] = _defs(needed)
    return result


def description(op: Operation) -> str:
    """The tool's description (``DESTRUCTIVE: ...`` first for destructive operations)."""
    summary = _DESTRUCTIVE_WORD.sub(" ", op.summary).strip()
    details = _DESTRUCTIVE_WORD.sub(" ", op.description).strip()
    parts = [f"DESTRUCTIVE: {summary}" if op.destructive else summary]
    if details:
        parts.append(details)
    needs = f"needs {op.permission}" if op.permission else "public"
    kind = "read-only" if op.read_only else "changes state"
    parts.append(f"API: {op.method} {op.path} ({needs}; {kind}).")
    if op.paginated:
        parts.append("A page of items: pass next_cursor back as cursor for more.")
    return "\n\n".join(parts)


def tool_annotations(op: Operation) -> dict[str, Any]:
    """The tool's MCP annotations (hints for the client)."""
    return {
        "title": _DESTRUCTIVE_WORD.sub(" ", op.summary).strip().rstrip("."),
        "readOnlyHint": op.read_only,
        "destructiveHint": op.destructive and not op.read_only,
        "idempotentHint": op.method in IDEMPOTENT_METHODS,
        "openWorldHint": False,
    }


def tool_specs() -> list[dict[str, Any]]:
    """Every tool as a plain mapping (``name``, ``description``, ``inputSchema``,
    ``annotations``), in the document's order."""
    return [
        {
            "name": op.operation_id,
            "title": tool_annotations(op)["title"],
            "description": description(op),
            "inputSchema": input_schema(op),
            "annotations": tool_annotations(op),
        }
        for op in OPERATIONS
    ]
