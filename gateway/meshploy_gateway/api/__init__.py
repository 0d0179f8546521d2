"""The ``/api/v1`` blueprints. Each handler: decode -> validate -> service -> encode.

Every view declares its permission with :func:`meshploy_core.authorization.policy.requires` (or
:func:`~meshploy_core.authorization.policy.public`); :func:`blueprints` lists them for the plugin.
"""

from __future__ import annotations

from quart import Blueprint


def blueprints() -> list[Blueprint]:
    """Every API blueprint, in registration order."""
    from meshploy_gateway.api import (
        audit,
        auth,
        deployments,
        jobs,
        members,
        notifications,
        orgs,
        projects,
        service_logs,
        services,
        tokens,
        variables,
    )

    return [
        auth.bp,
        orgs.bp,
        members.bp,
        tokens.bp,
        projects.bp,
        services.bp,
        service_logs.bp,
        deployments.bp,
        variables.bp,
        jobs.bp,
        notifications.bp,
        audit.bp,
    ]
