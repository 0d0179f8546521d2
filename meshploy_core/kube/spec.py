"""The typed desired state of a workload: what a deployment snapshot holds.

A :class:`WorkloadSpec` is everything needed to render a service's Kubernetes objects. It is
stored (without env values, which are sealed separately) as a deployment's ``spec_snapshot``,
so a rollback re-renders exactly what was deployed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from typing import Any

DNS_LABEL = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
CPU = re.compile(r"^([0-9]+m|[0-9]+(\.[0-9]{1,3})?)$")
MEMORY = re.compile(r"^[0-9]+(Ki|Mi|Gi|Ti|k|M|G|T)?$")

MANAGED_BY = "meshploy"
ROLE_LABEL = "meshploy.com/role"
LABEL_ORG = "meshploy.com/org"
LABEL_PROJECT = "meshploy.com/project"
LABEL_PROJECT_ID = "meshploy.com/project-id"
LABEL_SERVICE = "meshploy.com/service"
ANNOTATION_DEPLOYMENT = "meshploy.com/deployment-id"
ANNOTATION_ENV_HASH = "meshploy.com/env-hash"


def dns_label_problem(value: str, what: str = "name") -> str | None:
    """Why ``value`` is not a valid DNS label, or None when it is."""
    if not value:
        return f"{what} must not be empty"
    if len(value) > 63:
        return f"{what} must be at most 63 characters; got {len(value)}"
    if not DNS_LABEL.match(value):
        return (
            f"{what} {value!r} must be lower-case letters, digits and '-', start with a "
            "letter and end with a letter or digit (like my-api)"
        )
    return None


def namespace_for(project_slug: str, project_id_hex: str) -> str:
    """The project's namespace: its slug plus a short id, unique across organizations."""
    return f"{project_slug[:54]}-{project_id_hex[:8]}"


@dataclass(frozen=True)
class HealthCheck:
    """An HTTP check that becomes the readiness and liveness probes."""

    path: str = "/"
    port: int | None = None
    initial_delay_seconds: int = 0
    period_seconds: int = 5
    timeout_seconds: int = 2
    failure_threshold: int = 3


@dataclass(frozen=True)
class Resources:
    """CPU and memory requests and limits in Kubernetes quantity syntax."""

    cpu_request: str | None = None
    cpu_limit: str | None = None
    memory_request: str | None = None
    memory_limit: str | None = None


@dataclass(frozen=True)
class WorkloadSpec:
    """Desired state of one service at one deployment."""

    org_slug: str
    project_slug: str
    namespace: str
    service: str
    image: str
    port: int
    replicas: int = 1
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env_keys: tuple[str, ...] = ()
    resources: Resources = field(default_factory=Resources)
    health_check: HealthCheck | None = None
    hostname: str | None = None
    progress_deadline_seconds: int = 600
    image_pull_secret: str | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON form stored as a deployment's ``spec_snapshot``."""
        data = asdict(self)
        data["command"], data["args"] = list(self.command), list(self.args)
        data["env_keys"] = list(self.env_keys)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorkloadSpec:
        """Inverse of :meth:`to_json`."""
        values = dict(data)
        values["command"] = tuple(values.get("command") or ())
        values["args"] = tuple(values.get("args") or ())
        values["env_keys"] = tuple(values.get("env_keys") or ())
        values["resources"] = Resources(**(values.get("resources") or {}))
        hc = values.get("health_check")
        values["health_check"] = HealthCheck(**hc) if hc else None
        return cls(**values)


def env_hash(env: dict[str, str]) -> str:
    """A short content hash of the environment: names the env Secret so changes roll pods."""
    digest = hashlib.sha256()
    for key in sorted(env):
        digest.update(key.encode() + b"\0" + env[key].encode() + b"\0")
    return digest.hexdigest()[:10]
