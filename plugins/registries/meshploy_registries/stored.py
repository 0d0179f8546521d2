"""``stored-logins``: the private-registry logins an organization keeps through the API.

An image is pulled with the login stored for its registry host (Docker's reference rules
decide which host that is: :func:`meshploy_registries.credentials.registry_of`), in the
image's organization only.
"""

from __future__ import annotations

import uuid

from meshploy_core.plugins.context import PluginContext
from meshploy_core.plugins.contracts import NoConfig, RegistryCredentials
from meshploy_registries.credentials import credentials_for


class StoredLogins:
    """An :class:`~meshploy_core.plugins.contracts.ImageRegistry` over stored logins."""

    def __init__(self, context: PluginContext) -> None:
        self._context = context

    async def pull_credentials(
        self, org_id: uuid.UUID, image: str
    ) -> RegistryCredentials | None:
        """The organization's login for the image's registry, or None (pull anonymously)."""
        async with self._context.session() as session:
            return await credentials_for(session, org_id, image)


class StoredLoginsFactory:
    """Factory of :class:`StoredLogins` (it needs no config; the database comes with the
    context)."""

    kind = "stored-logins"
    description = "private-registry logins organizations store through the API"
    config_type = NoConfig

    def __init__(self, context: PluginContext) -> None:
        self._context = context

    def create(self, config: NoConfig) -> StoredLogins:
        """The registry, reading logins through the context's database."""
        return StoredLogins(self._context)
