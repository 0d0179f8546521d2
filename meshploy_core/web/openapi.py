"""The OpenAPI 3.1 document of ``/api/v1``, generated from the typed handlers.

Served at ``/api/v1/openapi.json`` with a Swagger UI page at ``/api/v1/docs``. On top of what
quart-schema derives from the request/response models, every operation gets: its required
permission (``x-meshploy-permission``) and security requirement (none for public ones), the
problem-details error responses it can produce, a 204 entry where it answers with no body,
and ``format: uuid`` on UUID path parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import swagger_ui_bundle
from quart import Quart, Response, abort, send_file
from quart_schema import Info, QuartSchema, hide
from quart_schema.openapi import OpenAPIProvider
from werkzeug.routing import Rule
from werkzeug.routing.converters import BaseConverter, UUIDConverter

from meshploy_core import __version__
from meshploy_core.accounts.authn import SESSION_COOKIE
from meshploy_core.authorization.policy import policy_of
from meshploy_core.web.problems import PROBLEM_CONTENT_TYPE, Problem

F = TypeVar("F", bound=Callable[..., Any])
API_PREFIX = "/api/v1"
OPENAPI_PATH = f"{API_PREFIX}/openapi.json"
DOCS_PATH = f"{API_PREFIX}/docs"
DOCS_ASSETS_PATH = f"{DOCS_PATH}/assets"
#: The only files of the Swagger UI distribution the docs page needs.
DOCS_ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}
NO_CONTENT_ATTR = "__meshploy_no_content__"
EXTRA_RESPONSES_ATTR = "__meshploy_problem_statuses__"
DESTRUCTIVE_ATTR = "__meshploy_destructive__"
SAFE_HTTP_METHODS = ("get", "head", "options")
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_DESCRIPTIONS = {
    400: "The request could not be parsed.",
    401: "No valid credentials.",
    403: "Authenticated, but not allowed.",
    404: "No such resource, or not visible to the caller.",
    409: "Conflicts with the current state.",
    422: "The input is invalid; `errors` names each field.",
    429: "Too many attempts; see Retry-After.",
    503: "Something it needs (the database, the Kubernetes cluster) is unreachable.",
}


def no_content(func: F) -> F:
    """Document that a handler answers 204 with no body."""
    setattr(func, NO_CONTENT_ATTR, True)
    return func


def destructive(func: F) -> F:
    """Document that an operation removes or replaces something, or changes who has access
    (roles, tokens, credentials), so clients ask before calling it. DELETEs are implied."""
    setattr(func, DESTRUCTIVE_ATTR, True)
    return func


def problems(*statuses: int) -> Callable[[F], F]:
    """Document extra problem statuses an operation can answer (409, 429, ...)."""

    def mark(func: F) -> F:
        setattr(func, EXTRA_RESPONSES_ATTR, tuple(statuses))
        return func

    return mark


def _problem_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_CONTENT_TYPE: {"schema": PROBLEM_REF}}}


class MeshployOpenAPIProvider(OpenAPIProvider):
    """quart-schema's provider, limited to ``/api/v1`` and enriched as the module says."""

    def schema(self) -> dict[str, Any]:
        """The whole document, with the Problem schema among the components."""
        doc = super().schema()
        components = doc.setdefault("components", {}).setdefault("schemas", {})
        problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in problem.pop("$defs", {}).items():
            components[name] = sub
        components["Problem"] = problem
        return doc

    def generate_rules(self) -> Iterable[Rule]:
        """Only the versioned API (not probes, docs or the document itself)."""
        for rule in super().generate_rules():
            if rule.rule.startswith(API_PREFIX + "/") and rule.rule != OPENAPI_PATH:
                yield rule

    def build_path_parameter(self, name: str, converter: BaseConverter) -> dict[str, Any]:
        """UUID path parameters say so."""
        param = super().build_path_parameter(name, converter)
        if isinstance(converter, UUIDConverter):
            param["schema"] = {"type": "string", "format": "uuid"}
        return param

    def operation_id(self, method: str, path: str, func: Callable[..., Any]) -> str | None:
        """The handler's name (``create_project``): stable, and a good tool name for MCP."""
        return str(getattr(func, "__name__", None) or super().operation_id(method, path, func))

    def build_paths(self, rule: Rule) -> tuple[dict[str, Any], dict[str, Any]]:
        """Each operation gains permission, security and error responses."""
        paths, components = super().build_paths(rule)
        view = self._app.view_functions[rule.endpoint]
        declared = policy_of(view)
        for operations in paths.values():
            for method, op in operations.items():
                responses = {str(k): v for k, v in op.get("responses", {}).items()}
                if getattr(view, NO_CONTENT_ATTR, False):
                    responses["204"] = {"description": "Done; no content."}
                statuses = {422} if "requestBody" in op or op.get("parameters") else set()
                statuses |= set(getattr(view, EXTRA_RESPONSES_ATTR, ()))
                if declared is None or not declared.public:
                    statuses |= {401, 403}
                if any(p.get("in") == "path" for p in op.get("parameters", [])):
                    statuses.add(404)
                for status in sorted(statuses):
                    responses.setdefault(str(status), _problem_response(_DESCRIPTIONS[status]))
                responses["default"] = _problem_response("An error (problem details).")
                new_op = {**op, "responses": responses}
                if declared is not None and declared.permission is not None:
                    new_op["x-meshploy-permission"] = declared.permission.name
                    new_op["x-meshploy-writes"] = declared.permission.writes
                else:
                    new_op["security"] = []
                    new_op["x-meshploy-writes"] = method not in SAFE_HTTP_METHODS
                if method == "delete" or getattr(view, DESTRUCTIVE_ATTR, False):
                    new_op["x-meshploy-destructive"] = True
                operations[method] = new_op
        return paths, components


async def docs_asset(name: str) -> Response:
    """A Swagger UI file from the installed ``swagger-ui-bundle`` package (no CDN)."""
    mimetype = DOCS_ASSETS.get(name)
    if mimetype is None:
        abort(404)
    path = Path(swagger_ui_bundle.swagger_ui_path) / name
    response = await send_file(path, mimetype=mimetype)
    response.cache_control.public = True
    response.cache_control.max_age = 86400
    return response


def install_openapi(app: Quart) -> QuartSchema:
    """Attach quart-schema with our provider, document path and docs page.

    The docs page loads Swagger UI from this server (``/api/v1/docs/assets/``), never from a
    CDN: it shares the API's origin and session cookie, so a third-party script there could
    act as the signed-in user; and a self-hosted gateway may have no internet access at all.
    """
    app.config["QUART_SCHEMA_SWAGGER_JS_URL"] = f"{DOCS_ASSETS_PATH}/swagger-ui-bundle.js"
    app.config["QUART_SCHEMA_SWAGGER_CSS_URL"] = f"{DOCS_ASSETS_PATH}/swagger-ui.css"
    app.add_url_rule(f"{DOCS_ASSETS_PATH}/<name>", "docs_asset", hide(docs_asset), methods=["GET"])
    return QuartSchema(
        app,
        openapi_path=OPENAPI_PATH,
        swagger_ui_path=DOCS_PATH,
        redoc_ui_path=None,
        scalar_ui_path=None,
        info=Info(
            title="Meshploy API",
            version=__version__,
            description=(
                "The Meshploy platform API. Errors are RFC 9457 problem details "
                "(application/problem+json); lists use cursor pagination (`limit`, `cursor`, "
                "`next_cursor`); every response carries `X-Request-Id`."
            ),
        ),
        security_schemes={
            "bearerAuth": {"type": "http", "scheme": "bearer"},
            "sessionCookie": {"type": "apiKey", "in_": "cookie", "name": SESSION_COOKIE},
        },
        security=[{"bearerAuth": []}, {"sessionCookie": []}],
        openapi_provider_class=MeshployOpenAPIProvider,
    )
