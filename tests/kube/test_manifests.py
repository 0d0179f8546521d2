"""Manifest rendering is pure and snapshot-tested (UPDATE_SNAPSHOTS=1 rewrites the files)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from meshploy_core.kube import manifests
from meshploy_core.kube.spec import (
    HealthCheck,
    Resources,
    WorkloadSpec,
    dns_label_problem,
    env_hash,
    namespace_for,
)

SNAPSHOTS = Path(__file__).with_name("snapshots")

SPEC = WorkloadSpec(
    org_slug="acme",
    project_slug="web",
    namespace="web-0123abcd",
    service="api",
    image="registry.example.com/api:1.2.3",
    port=8080,
    replicas=3,
    command=("/bin/server",),
    args=("--listen", ":8080"),
    env_keys=("DATABASE_URL", "LOG_LEVEL"),
    resources=Resources(
        cpu_request="100m", cpu_limit="1", memory_request="128Mi", memory_limit="256Mi"
    ),
    health_check=HealthCheck(path="/healthz", period_seconds=5),
    hostname="api-web.meshploy.test",
    progress_deadline_seconds=120,
    image_pull_secret="registry-creds",
)
ENV = {"DATABASE_URL": "postgres://db/app", "LOG_LEVEL": "info"}


def check_snapshot(name: str, value: Any) -> None:
    path = SNAPSHOTS / f"{name}.json"
    rendered = json.dumps(value, indent=2, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1" or not path.exists():
        if os.environ.get("CI") and not path.exists():
            pytest.fail(f"snapshot {path} missing in CI; run with UPDATE_SNAPSHOTS=1 locally")
        path.write_text(rendered)
    want = path.read_text()
    assert rendered == want, (
        f"{name} differs from {path}; rerun with UPDATE_SNAPSHOTS=1 if intended"
    )


def test_service_manifests_snapshot() -> None:
    check_snapshot("service_manifests", manifests.service_manifests(SPEC, "dep-1", ENV))


def test_project_manifests_snapshot() -> None:
    rendered = manifests.project_manifests(
        "acme", "web", "web-0123abcd", "0123abcd-0000-4000-8000-000000000000"
    )
    check_snapshot("project_manifests", rendered)


def test_rendering_is_pure_and_deterministic() -> None:
    a = manifests.service_manifests(SPEC, "dep-1", ENV)
    b = manifests.service_manifests(SPEC, "dep-1", dict(reversed(list(ENV.items()))))
    assert a == b


def test_env_values_never_inline_in_the_pod() -> None:
    dep = manifests.deployment(SPEC, "dep-1", ENV)
    text = json.dumps(dep)
    for value in ENV.values():
        assert value not in text
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert "env" not in container
    assert container["envFrom"] == [{"secretRef": {"name": manifests.env_secret_name("api", ENV)}}]


def test_env_change_renames_secret_and_rolls_pods() -> None:
    changed = {**ENV, "LOG_LEVEL": "debug"}
    assert manifests.env_secret_name("api", ENV) != manifests.env_secret_name("api", changed)
    a = manifests.deployment(SPEC, "dep-1", ENV)["spec"]["template"]
    b = manifests.deployment(SPEC, "dep-1", changed)["spec"]["template"]
    assert a != b


def test_rolling_update_never_reduces_availability() -> None:
    strategy = manifests.deployment(SPEC, "d", {})["spec"]["strategy"]
    assert strategy == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }


def test_no_env_means_no_secret() -> None:
    kinds = [m["kind"] for m in manifests.service_manifests(SPEC, "d", {})]
    assert kinds == ["Deployment", "Service"]


def test_node_port_service_keeps_traffic_local() -> None:
    svc = manifests.node_port_service(SPEC)
    assert svc["spec"]["type"] == "NodePort"
    assert svc["spec"]["externalTrafficPolicy"] == "Local"


def test_spec_round_trips_through_json() -> None:
    assert WorkloadSpec.from_json(json.loads(json.dumps(SPEC.to_json()))) == SPEC


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("my-api", None),
        ("a", None),
        ("", "must not be empty"),
        ("My-Api", "lower-case"),
        ("-api", "lower-case"),
        ("api-", "lower-case"),
        ("1api", "start with a letter"),
        ("a" * 64, "at most 63 characters; got 64"),
        ("my_api", "lower-case"),
    ],
)
def test_dns_label_rules(value: str, problem: str | None) -> None:
    got = dns_label_problem(value)
    if problem is None:
        assert got is None
    else:
        assert got is not None and problem in got, got


def test_namespace_is_unique_per_project_and_a_dns_label() -> None:
    ns = namespace_for("x" * 63, "0123456789abcdef")
    assert dns_label_problem(ns) is None
    assert namespace_for("web", "aaaaaaaa") != namespace_for("web", "bbbbbbbb")


def test_env_hash_depends_on_keys_and_values() -> None:
    assert env_hash({"A": "1"}) != env_hash({"A": "2"})
    assert env_hash({"A": "1"}) != env_hash({"B": "1"})
    assert env_hash({"A": "1", "B": "2"}) == env_hash({"B": "2", "A": "1"})


def test_without_health_check_a_pod_must_stay_up_before_it_counts() -> None:
    no_check = WorkloadSpec(**{**SPEC.__dict__, "health_check": None})
    assert manifests.deployment(no_check, "d", {})["spec"]["minReadySeconds"] == 3
    assert manifests.deployment(SPEC, "d", {})["spec"]["minReadySeconds"] == 0
