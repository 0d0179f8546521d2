"""Every table, importable from one place (Alembic's autogenerate compares against these)."""

from meshploy_core.db.base import Base
from meshploy_core.db.models.accounts import ApiToken, Membership, Organization, Role, User
from meshploy_core.db.models.audit import AuditEvent, MetricSample
from meshploy_core.db.models.auth import Invitation, RateLimitBucket, RecoveryCode
from meshploy_core.db.models.networking import Domain, Node, Route
from meshploy_core.db.models.workloads import (
    Deployment,
    DeploymentEvent,
    Project,
    RegistryCredential,
    Service,
)

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Base",
    "Deployment",
    "DeploymentEvent",
    "Domain",
    "Invitation",
    "Membership",
    "MetricSample",
    "Node",
    "Organization",
    "Project",
    "RateLimitBucket",
    "RecoveryCode",
    "RegistryCredential",
    "Role",
    "Route",
    "Service",
    "User",
]
