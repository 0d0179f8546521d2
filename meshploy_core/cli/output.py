"""How CLI commands print API answers: plain aligned tables for people, JSON for scripts.

Tables are plain text (no colours, no wrapping to the terminal), so they read the same in a
terminal, a pipe and a CI log; a cell longer than :data:`MAX_CELL` is cut with an ellipsis
(``get`` and ``--json`` show every value whole). ``--json`` prints the API's answer unchanged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import click

from meshploy_core.client.operations import SCHEMAS
from meshploy_core.client.spec import Operation, ref_name

#: Columns never worth a table column (still shown by ``get`` and ``--json``).
QUIET_COLUMNS = frozenset(
    {"updated_at", "triggered_by", "started_at", "project_id", "progress_deadline_seconds"}
)
MAX_COLUMNS = 8
#: Longer table cells are cut (with an ellipsis); ``get`` and ``--json`` show them whole.
MAX_CELL = 60
_ISO = re.compile(r"^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$")


def emit_json(value: Any) -> None:
    """Print ``value`` as indented JSON (``{}`` for an empty answer)."""
    click.echo(json.dumps({} if value is None else value, indent=2, sort_keys=False))


def cell(value: Any) -> str:
    """One value as table text."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        match = _ISO.match(value)
        if match:
            zone = match.group(4) or ""
            return f"{match.group(1)} {match.group(2)}" + ("Z" if zone in ("Z", "+00:00") else zone)
        return value
    if isinstance(value, list):
        if all(isinstance(v, Mapping) and "name" in v for v in value):
            return ",".join(str(v["name"]) for v in value) or "-"
        return ",".join(cell(v) for v in value) or "-"
    if isinstance(value, Mapping):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """Rows as an aligned text table with an upper-case header."""
    texts = [[_cut(cell(row.get(c))) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(t[i]) for t in texts]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(t, widths, strict=True)) for t in texts]
    return "\n".join(line.rstrip() for line in lines)


def _resolve(schema: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if schema is None:
        return {}
    name = ref_name(schema)
    return SCHEMAS.get(name, {}) if name else schema


def _scalar(schema: Mapping[str, Any]) -> bool:
    options = schema.get("anyOf") or [schema]
    kinds = {o.get("type") for o in options if isinstance(o, Mapping)}
    return bool(kinds) and kinds <= {"string", "integer", "number", "boolean", "null"}


def columns_for(
    item_schema: Mapping[str, Any] | None,
    rows: Sequence[Mapping[str, Any]],
    context: Sequence[str] = (),
) -> list[str]:
    """Table columns for list items: the schema's scalar fields, ``id`` first, without the
    ``context`` fields (the parent ids the command was given)."""
    props: Mapping[str, Any] = _resolve(item_schema).get("properties") or {}
    skip = QUIET_COLUMNS | set(context)
    names = [n for n, s in props.items() if _scalar(_resolve(s)) and n not in skip]
    if not names and rows:
        names = [k for k, v in rows[0].items() if not isinstance(v, Mapping | list)]
    if "id" in names:
        names.remove("id")
        names.insert(0, "id")
    return names[:MAX_COLUMNS]


def item_schema(op: Operation) -> Mapping[str, Any] | None:
    """The schema of one item of a list operation's page."""
    page = _resolve(op.response)
    items = (page.get("properties") or {}).get("items") or {}
    inner = items.get("items")
    return inner if isinstance(inner, Mapping) else None


def show_page(op: Operation, items: Sequence[Mapping[str, Any]], next_cursor: str | None) -> None:
    """Print list items as a table (and how to get the next page)."""
    if not items:
        click.echo(f"no {op.noun}s")
    else:
        context = [p.name for p in op.path_params]
        click.echo(table(items, columns_for(item_schema(op), items, context)))
    if next_cursor:
        click.echo(f"(more: add --cursor {next_cursor}, or --all)", err=True)


def _flatten(value: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, item in value.items():
        if isinstance(item, Mapping) and item and not prefix:
            rows += _flatten(item, f"{key}.")
        else:
            rows.append((prefix + key, item))
    return rows


def show_object(value: Mapping[str, Any]) -> None:
    """Print one object as ``key  value`` lines (nested objects as ``outer.inner``)."""
    rows = _flatten(value)
    width = max((len(k) for k, _ in rows), default=0)
    for key, item in rows:
        click.echo(f"{key.ljust(width)}  {cell(item)}")


def show(op: Operation, value: Any, as_json: bool) -> None:
    """Print an operation's answer, as JSON or for people."""
    if as_json:
        emit_json(value)
        return
    if value is None:
        click.echo("done")
    elif isinstance(value, Mapping) and isinstance(value.get("items"), list) and op.paginated:
        show_page(op, value["items"], value.get("next_cursor"))
    elif isinstance(value, Mapping):
        show_object(value)
    else:
        emit_json(value)
