"""Services in a project: their desired configuration and sealed environment.

Configuration lives in PostgreSQL; nothing here talks to Kubernetes. A deploy snapshots the
service (see :mod:`meshploy_core.deploys.deployments`) and the reconciler applies it.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field, fields, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from meshploy_core import audit
from meshploy_core.audit import Actor
from meshploy_core.db.base import utcnow
from meshploy_core.db.paging import Page, PageRequest, fetch_page
from meshploy_core.errors import Conflict, NotFound, ValidationFailed
from meshploy_core.kube.spec import (
    CPU,
    ENV_NAME,
    MEMORY,
    HealthCheck,
    Resources,
    WorkloadSpec,
    dns_label_problem,
)
from meshploy_core.organizations.models import Organization
from meshploy_core.projects.models import Project
from meshploy_core.projects.projects import namespace_of
from meshploy_core.routing.models import Route
from meshploy_core.services.models import Service

MAX_ENV_VARS = 200
MAX_ENV_VALUE = 32 * 1024
_HOSTNAME = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
_IMAGE = re.compile(r"^[a-z0-9]+([._/:@-][a-zA-Z0-9_.-]+)*$")


@dataclass(frozen=True)
class ServiceConfig:
    """Everything about a service except its name and environment."""

    image: str
    port: int
    replicas: int = 1
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    resources: Resources = field(default_factory=Resources)
    health_check: HealthCheck | None = None
    expose: bool = True
    hostname: str | None = None
    progress_deadline_seconds: int = 600


def _check(errors: dict[str, str], key: str, ok: bool, message: str) -> None:
    if not ok and key not in errors:
        errors[key] = message


def validate_config(cfg: ServiceConfig, errors: dict[str, str] | None = None) -> dict[str, str]:
    """Per-field problems of ``cfg`` (empty when it is acceptable)."""
    errors = errors if errors is not None else {}
    _check(
        errors,
        "image",
        bool(cfg.image) and len(cfg.image) <= 512 and bool(_IMAGE.match(cfg.image)),
        "must be an image reference like nginx:1.27 or registry.example.com/team/api:v2",
    )
    _check(errors, "port", 1 <= cfg.port <= 65535, "must be a port number 1-65535")
    _check(errors, "replicas", 0 <= cfg.replicas <= 50, "must be between 0 and 50")
    _check(
        errors,
        "progress_deadline_seconds",
        10 <= cfg.progress_deadline_seconds <= 3600,
        "must be between 10 and 3600 seconds",
    )
    _check(
        errors,
        "command",
        len(cfg.command) <= 64 and all(len(a) <= 4096 for a in cfg.command),
        "at most 64 arguments of 4096 characters",
    )
    _check(
        errors,
        "args",
        len(cfg.args) <= 64 and all(len(a) <= 4096 for a in cfg.args),
        "at most 64 arguments of 4096 characters",
    )
    r = cfg.resources
    for name in ("cpu_request", "cpu_limit"):
        value = getattr(r, name)
        _check(
            errors,
            f"resources.{name}",
            value is None or bool(CPU.match(value)),
            "must be a CPU quantity like 250m or 1.5",
        )
    for name in ("memory_request", "memory_limit"):
        value = getattr(r, name)
        _check(
            errors,
            f"resources.{name}",
            value is None or bool(MEMORY.match(value)),
            "must be a memory quantity like 256Mi or 1Gi",
        )
    hc = cfg.health_check
    if hc is not None:
        _check(
            errors,
            "health_check.path",
            hc.path.startswith("/")
            and len(hc.path) <= 1024
            and not any(c.isspace() for c in hc.path),
            "must be a URL path starting with /",
        )
        _check(
            errors,
            "health_check.port",
            hc.port is None or 1 <= hc.port <= 65535,
            "must be a port number 1-65535",
        )
        for name in ("period_seconds", "timeout_seconds", "failure_threshold"):
            _check(
                errors,
                f"health_check.{name}",
                1 <= getattr(hc, name) <= 300,
                "must be between 1 and 300",
            )
        _check(
            errors,
            "health_check.initial_delay_seconds",
            0 <= hc.initial_delay_seconds <= 3600,
            "must be between 0 and 3600",
        )
    if cfg.hostname is not None:
        _check(
            errors,
            "hostname",
            len(cfg.hostname) <= 253 and bool(_HOSTNAME.match(cfg.hostname)),
            "must be a lower-case DNS name like api.example.com",
        )
    return errors


def validate_env(env: dict[str, str]) -> dict[str, str]:
    """Per-variable problems of ``env`` (names only: values are never echoed)."""
    errors: dict[str, str] = {}
    if len(env) > MAX_ENV_VARS:
        errors["env"] = f"at most {MAX_ENV_VARS} variables"
    for key, value in env.items():
        if not ENV_NAME.match(key) or len(key) > 256:
            errors[f"env.{key[:64]}"] = (
                "name must be letters, digits and _, not starting with a digit"
            )
        elif len(value) > MAX_ENV_VALUE:
            errors[f"env.{key}"] = f"value must be at most {MAX_ENV_VALUE} bytes"
    return errors


def config_to_json(cfg: ServiceConfig) -> dict[str, Any]:
    """The JSON stored in ``services.spec`` (image/port/replicas have columns of their own)."""
    return {
        "command": list(cfg.command),
        "args": list(cfg.args),
        "resources": {f.name: getattr(cfg.resources, f.name) for f in fields(Resources)},
        "health_check": None
        if cfg.health_check is None
        else {f.name: getattr(cfg.health_check, f.name) for f in fields(HealthCheck)},
        "expose": cfg.expose,
        "progress_deadline_seconds": cfg.progress_deadline_seconds,
    }


def config_of(service: Service) -> ServiceConfig:
    """The typed configuration of a stored service."""
    spec = service.spec or {}
    hc = spec.get("health_check")
    return ServiceConfig(
        image=service.image,
        port=service.port,
        replicas=service.replicas,
        command=tuple(spec.get("command") or ()),
        args=tuple(spec.get("args") or ()),
        resources=Resources(**(spec.get("resources") or {})),
        health_check=HealthCheck(**hc) if hc else None,
        expose=bool(spec.get("expose", True)),
        hostname=service.hostname,
        progress_deadline_seconds=int(spec.get("progress_deadline_seconds", 600)),
    )


def env_of(service: Service) -> dict[str, str]:
    """The service's environment, decrypted."""
    return dict(json.loads(service.env)) if service.env else {}


def default_hostname(service: str, project_slug: str, domain: str) -> str:
    """``<service>-<project>.<domain>``, the documented default public hostname."""
    return f"{service}-{project_slug}.{domain}"


def workload_spec(
    service: Service, project: Project, org: Organization, env_keys: list[str] | None = None
) -> WorkloadSpec:
    """The Kubernetes-level desired state of ``service`` as stored now (``env_keys``: the
    names of its effective environment, when variable groups add to its own)."""
    cfg = config_of(service)
    return WorkloadSpec(
        org_slug=org.slug,
        project_slug=project.slug,
        namespace=namespace_of(project),
        service=service.name,
        image=cfg.image,
        port=cfg.port,
        replicas=cfg.replicas,
        command=cfg.command,
        args=cfg.args,
        env_keys=tuple(sorted(env_of(service) if env_keys is None else env_keys)),
        resources=cfg.resources,
        health_check=cfg.health_check,
        hostname=service.hostname if cfg.expose else None,
        progress_deadline_seconds=cfg.progress_deadline_seconds,
    )


async def _hostname_taken(
    session: AsyncSession, hostname: str, service_id: uuid.UUID | None
) -> bool:
    query = select(Service.id).where(Service.hostname == hostname)
    if service_id is not None:
        query = query.where(Service.id != service_id)
    if await session.scalar(query) is not None:
        return True
    route_owner = await session.scalar(select(Route.service_id).where(Route.hostname == hostname))
    return route_owner is not None and route_owner != service_id


async def _check_hostname(
    session: AsyncSession, hostname: str | None, domain: str, service_id: uuid.UUID | None
) -> None:
    if hostname is None:
        return
    if not hostname.endswith("." + domain):
        raise ValidationFailed(
            f"hostname must be under {domain} (custom domains are added separately)",
            {"hostname": f"must end with .{domain}"},
        )
    if await _hostname_taken(session, hostname, service_id):
        raise Conflict(f"hostname {hostname!r} is already in use; choose another")


async def create_service(
    session: AsyncSession,
    actor: Actor,
    project: Project,
    name: str,
    cfg: ServiceConfig,
    env: dict[str, str],
    domain: str,
) -> Service:
    """Create a service (not deployed until a deploy is requested)."""
    errors: dict[str, str] = {}
    problem = dns_label_problem(name, "name")
    if problem:
        errors["name"] = problem
    validate_config(cfg, errors)
    errors.update(validate_env(env))
    if errors:
        raise ValidationFailed("the service definition is not valid", errors)
    if cfg.expose and cfg.hostname is None:
        cfg = replace(cfg, hostname=default_hostname(name, project.slug, domain))
    hostname = cfg.hostname if cfg.expose else None
    existing = await session.scalar(
        select(Service).where(Service.project_id == project.id, Service.name == name)
    )
    if existing is not None:
        if existing.deleted_at is not None:
            raise Conflict(f"service {name!r} is still being deleted; try again in a moment")
        raise Conflict(f"this project already has a service named {name!r}; choose another name")
    await _check_hostname(session, hostname, domain, None)
    service = Service(
        id=uuid.uuid4(),
        project_id=project.id,
        name=name,
        image=cfg.image,
        port=cfg.port,
        replicas=cfg.replicas,
        spec=config_to_json(cfg),
        env=json.dumps(env) if env else None,
        hostname=hostname,
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    session.add(service)
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(f"service {name!r} or hostname {hostname!r} already exists") from None
    await audit.record(
        session,
        actor,
        "service.create",
        "service",
        service.id,
        org_id=project.org_id,
        details={"name": name, "image": cfg.image},
    )
    return service


async def update_service(
    session: AsyncSession,
    actor: Actor,
    project: Project,
    service: Service,
    cfg: ServiceConfig,
    domain: str,
) -> Service:
    """Replace the service's configuration (takes effect at the next deploy)."""
    errors = validate_config(cfg)
    if errors:
        raise ValidationFailed("the service definition is not valid", errors)
    if cfg.expose and cfg.hostname is None:
        cfg = replace(
            cfg, hostname=service.hostname or default_hostname(service.name, project.slug, domain)
        )
    hostname = cfg.hostname if cfg.expose else None
    await _check_hostname(session, hostname, domain, service.id)
    service.image, service.port, service.replicas = cfg.image, cfg.port, cfg.replicas
    service.spec = config_to_json(cfg)
    service.hostname = hostname
    service.updated_at = utcnow()
    await session.flush()
    await audit.record(
        session,
        actor,
        "service.update",
        "service",
        service.id,
        org_id=project.org_id,
        details={"image": cfg.image},
    )
    return service


async def set_env(
    session: AsyncSession,
    actor: Actor,
    project: Project,
    service: Service,
    values: dict[str, str],
    unset: list[str] | tuple[str, ...] = (),
) -> list[str]:
    """Set and unset variables; return the resulting names (values are never returned)."""
    errors = validate_env(values)
    if errors:
        raise ValidationFailed("the environment is not valid", errors)
    env = env_of(service)
    missing = [k for k in unset if k not in env and k not in values]
    if missing:
        raise ValidationFailed(
            f"cannot unset variables that are not set: {', '.join(sorted(missing))}",
            {f"env.{k}": "not set" for k in missing},
        )
    env.update(values)
    for key in unset:
        env.pop(key, None)
    errors = validate_env(env)
    if errors:
        raise ValidationFailed("the environment is not valid", errors)
    service.env = json.dumps(env) if env else None
    service.updated_at = utcnow()
    await session.flush()
    await audit.record(
        session,
        actor,
        "service.env.update",
        "service",
        service.id,
        org_id=project.org_id,
        details={"set": sorted(values), "unset": sorted(unset)},
    )
    return sorted(env)


async def get_service(session: AsyncSession, project: Project, service_id: uuid.UUID) -> Service:
    """A live (not deleted) service of ``project``, else NotFound."""
    service = await session.scalar(
        select(Service).where(
            Service.id == service_id, Service.project_id == project.id, Service.deleted_at.is_(None)
        )
    )
    if service is None:
        raise NotFound("no such service in this project")
    return service


async def find_service(session: AsyncSession, project: Project, name: str) -> Service:
    """A live service of ``project`` by name, else NotFound."""
    service = await session.scalar(
        select(Service).where(
            Service.name == name, Service.project_id == project.id, Service.deleted_at.is_(None)
        )
    )
    if service is None:
        raise NotFound(f"no service named {name!r} in this project")
    return service


async def list_services(
    session: AsyncSession, project: Project, page: PageRequest
) -> Page[Service]:
    """The project's live services, oldest first."""
    query = select(Service).where(Service.project_id == project.id, Service.deleted_at.is_(None))
    return await fetch_page(
        session, query, [Service.created_at, Service.id], lambda s: (s.created_at, s.id), page
    )


async def delete_service(
    session: AsyncSession, actor: Actor, project: Project, service: Service
) -> None:
    """Mark the service deleted; the reconciler removes its Kubernetes objects, its route and
    then the row (the name and hostname stay reserved until that cleanup is done)."""
    service.deleted_at = utcnow()
    await session.flush()
    await audit.record(
        session, actor, "service.delete", "service", service.id, org_id=project.org_id
    )
