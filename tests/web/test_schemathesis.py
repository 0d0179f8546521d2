"""Schemathesis against the served OpenAPI document: generated valid and invalid requests to
every operation find no 5xx and no answer that contradicts the document."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks
from schemathesis.core.result import Ok

from tests.fixtures.api import PASSWORD, SecretTracker, ServedApp

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    checks.negative_data_rejection,
]
EXAMPLES = 12
FRAMING_HEADERS = {"content-length", "transfer-encoding", "host", "connection", "expect"}
# Operations that would dismantle the fixture if pointed at the real organization.
KEEP_RANDOM_IDS = {"delete_org", "transfer", "delete_project", "delete_service"}


@dataclass
class Run:
    """What the whole run saw."""

    base_url: str
    headers: dict[str, str]
    tracker: SecretTracker
    statuses: Counter[int] = field(default_factory=Counter)
    succeeded: set[str] = field(default_factory=set)


def _seed(base_url: str, tracker: SecretTracker) -> dict[str, Any]:
    tracker.add(PASSWORD, "owner password")
    with httpx.Client(base_url=f"{base_url}/api/v1", timeout=10) as http:
        reg = http.post("/auth/register", json={"email": "owner@example.com", "password": PASSWORD})
        assert reg.status_code == 201, reg.text
        org = reg.json()["organization"]["id"]
        login = http.post("/auth/login", json={"email": "owner@example.com", "password": PASSWORD})
        session = login.json()["token"]
        tracker.add(session, "session")
        auth = {"Authorization": f"Bearer {session}"}
        token = http.post("/tokens", headers=auth, json={"name": "fuzz"}).json()["secret"]
        tracker.add(token, "personal token")
        project = http.post(f"/orgs/{org}/projects", headers=auth, json={"name": "fuzzed"}).json()
        services = f"/orgs/{org}/projects/{project['id']}/services"
        tracker.add("fuzz-env-secret-value", "environment value")
        service = http.post(
            services,
            headers=auth,
            json={
                "name": "fuzzed",
                "image": "nginx:1.27",
                "port": 80,
                "env": {"SECRET": "fuzz-env-secret-value"},
            },
        ).json()
        deployment = http.post(f"{services}/{service['id']}/deploy", headers=auth, json={}).json()
    return {
        "org_id": org,
        "project_id": project["id"],
        "service_id": service["id"],
        "deployment_id": deployment["id"],
        "token": token,
    }


def _describe(exc: BaseException) -> str:
    """The failure and, for a group (several distinct failures), each member."""
    if isinstance(exc, BaseExceptionGroup):
        return f"{exc}\n" + "\n".join(_describe(sub) for sub in exc.exceptions)
    return str(exc)


def _fuzz(run: Run, operation: Any, mode: GenerationMode, fixed: dict[str, Any]) -> None:
    @settings(
        max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=fixed))
    def check(case: Any) -> None:
        # Framing headers belong to the HTTP server (Hypercorn answers a garbage Content-Length
        # itself, before the app runs; in production Caddy and the proxy do): not API input.
        for name in [k for k in (case.headers or {}) if k.lower() in FRAMING_HEADERS]:
            del case.headers[name]
        # A negative case may carry its own (deliberately invalid) credentials: keep them.
        own_auth = any(k.lower() == "authorization" for k in (case.headers or {}))
        headers = None if own_auth else run.headers
        response = case.call_and_validate(base_url=run.base_url, headers=headers, checks=CHECKS)
        run.statuses[response.status_code] += 1
        if response.status_code < 300:
            run.succeeded.add(operation.label)
        seen = response.text + "".join(f"{k}: {v}" for k, v in response.headers.items())
        run.tracker.check(seen, f"{operation.label} answer")

    check()


def test_api_conforms_to_its_openapi_document(
    served_api: ServedApp, secrets_tracker: SecretTracker
) -> None:
    seed = _seed(served_api.base_url, secrets_tracker)
    schema = schemathesis.openapi.from_url(f"{served_api.base_url}/api/v1/openapi.json")
    run = Run(served_api.base_url, {"Authorization": f"Bearer {seed['token']}"}, secrets_tracker)
    failures: list[str] = []
    operations = 0
    # Reads whose every path parameter is a real id must reach their success path.
    must_succeed: set[str] = set()
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the document has an invalid operation: {result!r}"
        operation = result.ok()
        operations += 1
        fixed = {}
        if operation.definition.raw.get("operationId") not in KEEP_RANDOM_IDS:
            fixed = {k: seed[k] for k in ("org_id", "project_id") if f"{{{k}}}" in operation.path}
        if operation.method.upper() == "GET" and all(
            name in fixed for name in re.findall(r"{(\w+)}", operation.path)
        ):
            must_succeed.add(operation.label)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(run, operation, mode, fixed)
            except Unsatisfiable:
                continue  # no invalid input exists (an operation without parameters or body)
            except Exception as exc:  # collect every operation's failure, report together
                failures.append(f"{operation.label} [{mode.value}]: {_describe(exc)}"[:4000])
    assert operations >= 30, f"only {operations} operations in the document"
    assert not failures, "\n\n".join(failures)
    # Not vacuous: many requests, and every read that can succeed did.
    assert sum(run.statuses.values()) >= operations * EXAMPLES, run.statuses
    assert len(must_succeed) >= 10, sorted(must_succeed)
    assert must_succeed <= run.succeeded, sorted(must_succeed - run.succeeded)
