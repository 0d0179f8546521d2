"""One CLI command per API operation, built from the operation table.

``meshploy <noun> <verb>`` with the noun and verb the generator derived (``project create``,
``service get-env``). Conventions, so every command reads like a hand-written one:

* the organization is ``--org`` (id or slug; default ``MESHPLOY_ORG_ID`` or the stored one),
  or the first argument of ``org`` commands (required for destructive ones: ``org delete``);
* a project is addressed by slug, a service, job or variable group by name: positional for
  the noun's own
  commands (``project get web``, ``service get api --project web``), ``--project`` /
  ``--service`` elsewhere; other ids are positional arguments;
* query parameters and body fields are options (``--image``, ``--replicas``); a create
  command takes its ``name`` as the first argument; maps are ``KEY=VALUE`` (repeatable),
  lists repeat the option, nested objects take JSON, ``null`` sends JSON null, passwords are
  prompted for; ``--body JSON`` (or ``@file``) gives the whole body;
* lists print one page (``--all`` follows the cursor); ``--json`` prints the API's answer.

Hand-written commands (``auth login``, ``service deploy``, ``deployment logs`` ...) replace
the generic command of the operations they cover (see :func:`covers`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import click

from meshploy_core.cli import output, resolve, session
from meshploy_core.client.http import ApiClient
from meshploy_core.client.operations import OPERATIONS, SCHEMAS
from meshploy_core.client.spec import Operation, ref_name

OPERATIONS_ATTR = "meshploy_operations"
#: Path parameters addressed by name (or slug) on the command line, with their help.
BY_NAME = {
    "project_id": "Project slug or id.",
    "service_id": "Service name or id.",
    "job_id": "Job name or id.",
    "group_id": "Variable group name or id.",
}
#: (parameter, noun) pairs where the parameter is the noun's own object: positional.
OWN_OBJECTS = (
    ("project_id", "project"),
    ("service_id", "service"),
    ("job_id", "job"),
    ("group_id", "variable-group"),
)
#: Body fields that are secrets: prompted for (hidden) when required, never echoed.
SECRET_FIELDS = ("password", "current_password", "new_password", "token", "invitation_token")


class _Null:
    """JSON null given on the command line (``--field null``)."""

    def __repr__(self) -> str:
        return "null"


NULL = _Null()


def _secret_input(name: str) -> str:
    """A secret field's value: prompted for (hidden) on a terminal, else one stdin line.

    Reading a pipe directly (``echo "$PW" | meshploy ...``) keeps scripts quiet: no prompt,
    no "cannot control echo" warning, and the value never appears in the process list.
    """
    label = name.replace("_", " ").capitalize()
    if sys.stdin.isatty():
        return str(click.prompt(label, hide_input=True, err=True))
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise click.UsageError(f"--{name.replace('_', '-')} is required: give it, or pipe it in")
    return line


def covers(*operation_ids: str) -> Callable[[click.Command], click.Command]:
    """Mark a hand-written command as the CLI face of ``operation_ids``."""

    def mark(command: click.Command) -> click.Command:
        setattr(command, OPERATIONS_ATTR, tuple(operation_ids))
        return command

    return mark


def covered_by(command: click.Command) -> tuple[str, ...]:
    """The operations ``command`` (and, for a group, its subcommands) covers."""
    found = tuple(getattr(command, OPERATIONS_ATTR, ()))
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            found += covered_by(sub)
    return found


class Nullable(click.ParamType[Any]):
    """A value of ``inner`` type, or the word ``null`` for JSON null."""

    def __init__(self, inner: click.ParamType[Any]) -> None:
        self.inner = inner
        self.name = f"{inner.name}|null"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and value == "null":
            return NULL
        return self.inner.convert(value, param, ctx)


class KeyValue(click.ParamType[Any]):
    """``KEY=VALUE``."""

    name = "KEY=VALUE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        key, sep, val = str(value).partition("=")
        if not sep or not key:
            self.fail(f"{value!r} is not KEY=VALUE", param, ctx)
        return (key, val)


class JsonText(click.ParamType[Any]):
    """JSON text, ``@file`` holding JSON, or ``-`` for standard input."""

    name = "JSON"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        text = value
        if value == "-":
            text = sys.stdin.read()
        elif value.startswith("@"):
            try:
                text = Path(value[1:]).read_text()
            except OSError as exc:
                self.fail(f"cannot read {value[1:]}: {exc.strerror}", param, ctx)
        try:
            return json.loads(text)
        except ValueError as exc:
            self.fail(f"not valid JSON ({exc})", param, ctx)


def _schema(schema: Mapping[str, Any]) -> tuple[Mapping[str, Any], bool]:
    """The non-null schema and whether null is allowed."""
    name = ref_name(schema)
    if name is not None:
        return SCHEMAS.get(name, {}), False
    options = schema.get("anyOf")
    if options:
        rest = [o for o in options if o.get("type") != "null"]
        nullable = len(rest) < len(options)
        if len(rest) == 1:
            inner, _ = _schema(rest[0])
            return inner, nullable
        return {}, nullable
    return schema, False


def _help(schema: Mapping[str, Any], description: str = "") -> str:
    text = description or str(schema.get("description") or "")
    inner, nullable = _schema(schema)
    text = text or str(inner.get("description") or "")
    if "default" in schema and schema["default"] not in (None, [], {}):
        text += f" [default: {schema['default']}]"
    if nullable:
        text += " ('null' for none)"
    return text.strip()


def _option(
    flag: str, dest: str, schema: Mapping[str, Any], required: bool, help_text: str
) -> click.Option:
    """A click option for a query parameter or body field of ``schema``."""
    inner, nullable = _schema(schema)
    kind = inner.get("type")
    decls = [f"--{flag}", dest]
    if flag.replace("-", "_") in SECRET_FIELDS:
        text = (help_text + " Prompted for (hidden) when missing.").strip()
        return click.Option(decls, required=False, help=text)
    if kind == "boolean" and not nullable:
        return click.Option(
            [f"--{flag}/--no-{flag}", dest], default=None, help=help_text, required=required
        )
    param_type: click.ParamType[Any]
    multiple = False
    if "enum" in inner:
        param_type = click.Choice([str(v) for v in inner["enum"]])
    elif kind == "integer":
        param_type = click.INT
    elif kind == "number":
        param_type = click.FLOAT
    elif kind == "string":
        param_type = click.STRING
    elif kind == "array" and (inner.get("items") or {}).get("type") in ("string", "integer"):
        param_type, multiple = click.STRING, True
        if inner["items"]["type"] == "integer":
            param_type = click.INT
    elif (
        kind == "object"
        and (inner.get("patternProperties") or inner.get("additionalProperties"))
        and not inner.get("properties")
    ):
        param_type, multiple = KeyValue(), True
    else:
        param_type = JsonText()
    if nullable and not multiple:
        param_type = Nullable(param_type)
    if multiple:
        help_text = (help_text + " (repeatable)").strip()
    return click.Option(
        decls,
        type=param_type,
        multiple=multiple,
        required=required and not multiple,
        help=help_text,
    )


def _value(raw: Any, schema: Mapping[str, Any]) -> Any:
    """The JSON value of a converted click value (None: not given)."""
    if raw is NULL:
        return None
    inner, _ = _schema(schema)
    if isinstance(raw, tuple):
        if not raw:
            return None
        if inner.get("type") == "object":
            return dict(raw)
        return list(raw)
    return raw


def build_command(op: Operation) -> click.Command:
    """The generic CLI command of ``op``."""
    params: list[click.Parameter] = []
    path_sources: dict[str, str] = {}  # API name -> click dest
    body_sources: dict[str, str] = {}
    query_sources: dict[str, str] = {}
    for p in op.path_params:
        if p.name == "org_id":
            if op.noun == "org":  # `org get [ORG]`, `org delete ORG`: the org is the object
                required = op.destructive
                metavar = "ORG" if required else "[ORG]"
                params.append(click.Argument(["org"], required=required, metavar=metavar))
            else:
                params.append(click.Option(["--org", "org"], help="Organization id or slug."))
            continue
        dest = f"p__{p.name}"
        own = (p.name, op.noun) in OWN_OBJECTS
        label = p.name.removesuffix("_id")
        if p.name in BY_NAME and not own:
            params.append(click.Option([f"--{label}", dest], required=True, help=BY_NAME[p.name]))
        else:
            metavar = label.upper() if p.name in BY_NAME else p.name.upper()
            params.append(click.Argument([dest], metavar=metavar))
        path_sources[p.name] = dest
    required_body = set(op.required_body_fields)
    body_fields = dict(op.body_fields)
    if op.verb == "create" and "name" in required_body:
        params.append(click.Argument(["b__name"], metavar="NAME"))
        body_sources["name"] = "b__name"
        body_fields.pop("name")
    for p in op.query_params:
        dest = f"q__{p.name}"
        params.append(
            _option(
                p.name.replace("_", "-"), dest, p.schema, p.required, _help(p.schema, p.description)
            )
        )
        query_sources[p.name] = dest
    for name, schema in body_fields.items():
        dest = f"b__{name}"
        required = name in required_body
        params.append(
            _option(
                name.replace("_", "-"),
                dest,
                schema,
                False,
                _help(schema) + (" [required]" if required else ""),
            )
        )
        body_sources[name] = dest
    if op.body is not None:
        params.append(
            click.Option(
                ["--body", "body"],
                type=JsonText(),
                help="The whole body as JSON (@file, - for stdin); options override its fields.",
            )
        )
    if op.paginated:
        params.append(
            click.Option(
                ["--all", "fetch_all"], is_flag=True, help="Follow the cursor: every page."
            )
        )
    params.append(
        click.Option(["--json", "as_json"], is_flag=True, help="Print the API's JSON answer.")
    )

    def callback(**values: Any) -> None:
        as_json = bool(values.pop("as_json"))
        conn = session.connection()

        async def work(client: ApiClient) -> Any:
            args: dict[str, Any] = {}
            if any(p.name == "org_id" for p in op.path_params):
                args["org_id"] = await resolve.org_id(client, conn, values.get("org"))
            for name, dest in path_sources.items():
                ref = str(values[dest])
                if name == "project_id":
                    ref = await resolve.project_id(client, args["org_id"], ref)
                elif name == "service_id":
                    ref = await resolve.service_id(client, args["org_id"], args["project_id"], ref)
                elif name == "job_id":
                    ref = await resolve.job_id(client, args["org_id"], args["project_id"], ref)
                elif name == "group_id":
                    ref = await resolve.group_id(client, args["org_id"], ref)
                args[name] = ref
            for name, dest in query_sources.items():
                value = _value(values[dest], {})
                if value is not None:
                    args[name] = value
            if op.body is not None:
                body = dict(values.get("body") or {})
                for name, dest in body_sources.items():
                    raw = values[dest]
                    if raw is None or raw == ():
                        continue
                    body[name] = _value(raw, op.body_fields[name])
                for name in op.required_body_fields:
                    if name not in body and name in SECRET_FIELDS:
                        body[name] = _secret_input(name)
                missing = [n for n in op.required_body_fields if n not in body]
                if missing:
                    flags = ", ".join("--" + n.replace("_", "-") for n in missing)
                    raise click.UsageError(f"missing {flags}")
                args.update(body)
            if values.get("fetch_all"):
                items = [item async for item in client.pages(op.operation_id, args)]
                return {"items": items, "next_cursor": None}
            return await client.invoke(op, args)

        output.show(op, session.run(conn, work, token=not op.public), as_json)

    help_text = op.summary
    if op.description:
        help_text += "\n\n" + op.description
    help_text += f"\n\n{op.method} {op.path} ({op.permission or 'public'})"
    command = click.Command(
        op.verb, params=params, callback=callback, help=help_text, short_help=op.summary
    )
    return covers(op.operation_id)(command)


def generic_commands(noun: str, covered: Iterable[str] = ()) -> list[click.Command]:
    """Generic commands of ``noun``'s operations, except those in ``covered``."""
    skip = set(covered)
    return [
        build_command(op) for op in OPERATIONS if op.noun == noun and op.operation_id not in skip
    ]
