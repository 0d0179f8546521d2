"""Generate the typed client from the API's OpenAPI document.

``python -m meshploy_core.client.generate`` (or ``scripts/gen-client``) builds the app in
process (no database is touched: only the route table is read), takes its OpenAPI document and
writes ``operations.py`` (the operation table), ``models.py`` (TypedDicts) and ``methods.py``
(one typed method per operation) next to this file. ``--check`` writes nothing and exits 1 if
the files differ from what the document gives (CI runs the same comparison as a test).
``--openapi FILE`` reads the document from a file instead; a document fetched from a server
has the same content but sorted keys (Quart's JSON), so the files come out reordered: the
committed files are generated in process, in the order the models declare their fields.

CLI names: each operation gets a noun (the resource its path names: ``project``,
``service``, ...) and a verb (its operationId without the noun: ``list``, ``create``,
``get-env``); the pair is unique, and the CLI's generic commands use it.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, cast

from meshploy_core.client import codegen
from meshploy_core.client.spec import Operation, Param

HERE = Path(__file__).resolve().parent
API_PREFIX = "/api/v1/"
HTTP_METHODS = ("get", "put", "post", "patch", "delete")

#: Path segment -> CLI noun. A path's noun is its last segment listed here; a new resource
#: that is not listed still gets a noun (its first segment, singular), so nothing is lost.
NOUNS: Mapping[str, str] = {
    "auth": "auth",
    "orgs": "org",
    "members": "member",
    "invitations": "invitation",
    "tokens": "token",
    "agent-tokens": "agent-token",
    "projects": "project",
    "services": "service",
    "deployments": "deployment",
    "audit-events": "audit",
    "registry-credentials": "registry-credential",
    "jobs": "job",
    "variable-groups": "variable-group",
    "notification-channels": "notification-channel",
    "events": "event",
}


def document_from_app() -> dict[str, Any]:
    """The OpenAPI document of the app ``create_app`` builds with every installed plugin.

    Uses a throwaway configuration: building the app reads no database, and the document is
    taken from the schema provider directly (the served endpoint would open a session).
    """
    import asyncio
    import os

    from meshploy_core.app.factory import create_app
    from meshploy_core.settings import load_settings

    settings = load_settings(
        environ={
            "DATABASE_URL": "postgresql://unused@127.0.0.1:9/unused",
            "ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode(),
        }
    )
    app = create_app(settings)

    async def read() -> dict[str, Any]:
        async with app.app_context():
            doc = app.extensions["QUART_SCHEMA"].openapi_provider.schema()
        # The served document is this dict through JSON (keys sorted); normalise the values.
        return cast(dict[str, Any], json.loads(json.dumps(doc, default=str)))

    return asyncio.run(read())


def _literals(path: str) -> list[str]:
    return [s for s in path.removeprefix(API_PREFIX).split("/") if s and not s.startswith("{")]


def noun_of(path: str) -> str:
    """The CLI noun of an operation on ``path``."""
    segments = _literals(path)
    known = [s for s in segments if s in NOUNS]
    if known:
        return NOUNS[known[-1]]
    first = segments[0] if segments else "api"
    return first[:-1] if first.endswith("s") else first


def verb_of(operation_id: str, noun: str, path: str) -> str:
    """The CLI verb: the operationId's words without the noun's (``list_projects`` -> list)."""
    strip: set[str] = set()
    for word in noun.split("-") + [w for s in _literals(path) if s in NOUNS for w in s.split("-")]:
        strip |= {word, word + "s", word.removesuffix("s")}
    words = [w for w in operation_id.split("_") if w not in strip]
    return "-".join(words) or operation_id.replace("_", "-")


def _success(op: Mapping[str, Any]) -> tuple[int, Mapping[str, Any] | None]:
    codes = sorted(int(c) for c in op.get("responses", {}) if c.isdigit() and c.startswith("2"))
    if not codes:
        raise ValueError(f"{op.get('operationId')}: no success response documented")
    code = codes[0]
    content = op["responses"][str(code)].get("content") or {}
    schema = (content.get("application/json") or {}).get("schema")
    return code, schema if code != 204 else None


def _params(op: Mapping[str, Any]) -> tuple[Param, ...]:
    found = []
    for raw in op.get("parameters", ()):
        where = raw["in"]
        if where not in ("path", "query"):
            raise ValueError(f"{op['operationId']}: unsupported parameter location {where}")
        found.append(
            Param(
                name=raw["name"],
                location=cast(Literal["path", "query"], where),
                required=bool(raw.get("required", where == "path")),
                schema=raw.get("schema") or {},
                description=str(raw.get("description") or ""),
            )
        )
    return tuple(found)


def _summary(op: Mapping[str, Any]) -> tuple[str, str]:
    summary = " ".join(str(op.get("summary") or "").split())
    description = " ".join(str(op.get("description") or "").split())
    if description.startswith(summary):
        description = description[len(summary) :].strip()
    return summary or op["operationId"].replace("_", " "), description


def operations_of(doc: Mapping[str, Any]) -> list[Operation]:
    """The operation table of ``doc``; raises ValueError where the client cannot follow it."""
    ops: list[Operation] = []
    seen: dict[tuple[str, str], str] = {}
    for path, item in doc["paths"].items():
        for method in HTTP_METHODS:
            raw = item.get(method)
            if raw is None:
                continue
            op_id = raw.get("operationId")
            if not op_id or not re.fullmatch(r"[a-z][a-z0-9_]*", op_id):
                raise ValueError(f"{method.upper()} {path}: operationId missing or not snake_case")
            body_spec = (raw.get("requestBody") or {}).get("content", {}).get("application/json")
            body = body_spec.get("schema") if body_spec else None
            status, response = _success(raw)
            summary, description = _summary(raw)
            noun = noun_of(path)
            op = Operation(
                operation_id=op_id,
                method=method.upper(),
                path=path,
                noun=noun,
                verb=verb_of(op_id, noun, path),
                summary=summary,
                description=description,
                permission=raw.get("x-meshploy-permission"),
                writes=bool(raw.get("x-meshploy-writes", method != "get")),
                destructive=bool(raw.get("x-meshploy-destructive", False)),
                params=_params(raw),
                body=body,
                body_required=bool(
                    (raw.get("requestBody") or {}).get("required", body is not None)
                ),
                success_status=status,
                response=response,
            )
            names = op.argument_names()
            if len(set(names)) != len(names):
                raise ValueError(f"{op_id}: a path, query and body argument share a name")
            if body is not None and body.get("type") != "object":
                raise ValueError(f"{op_id}: the request body must be a JSON object")
            key = (op.noun, op.verb)
            if key in seen:
                raise ValueError(f"{op_id} and {seen[key]} both map to `{op.noun} {op.verb}`")
            seen[key] = op_id
            ops.append(op)
    if len({op.operation_id for op in ops}) != len(ops):
        raise ValueError("operationIds are not unique")
    return ops


def generate(doc: Mapping[str, Any]) -> dict[str, str]:
    """File name -> source, for every generated file."""
    components = doc.get("components", {}).get("schemas", {})
    ops = operations_of(doc)
    return {
        "operations.py": codegen.render_operations(components, ops),
        "models.py": codegen.render_models(components, ops),
        "methods.py": codegen.render_methods(components, ops),
    }


def stale_files(doc: Mapping[str, Any], directory: Path = HERE) -> list[str]:
    """Generated files that differ from what ``doc`` gives (empty: up to date)."""
    return [
        name
        for name, text in generate(doc).items()
        if not (directory / name).exists() or (directory / name).read_text() != text
    ]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m meshploy_core.client.generate")
    parser.add_argument("--openapi", type=Path, help="read the document from this file")
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    doc = json.loads(args.openapi.read_text()) if args.openapi else document_from_app()
    if args.check:
        stale = stale_files(doc)
        for name in stale:
            print(f"stale: meshploy_core/client/{name} (run scripts/gen-client)", file=sys.stderr)
        return 1 if stale else 0
    for name, text in generate(doc).items():
        (HERE / name).write_text(text)
        print(f"wrote meshploy_core/client/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
