"""Which login a node needs to pull an image: asked of every registered image registry.

The core knows registries only through the ``register_registries`` hook; the reconciler asks
:class:`PullLogins` at every apply (so a rotated password serves the next deploy and every
rollback, and a deleted login stops being used).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field

from meshploy_core.errors import MeshployError
from meshploy_core.plugins.catalogs import ImageRegistryCatalog
from meshploy_core.plugins.contracts import ImageRegistry, RegistryCredentials

log = logging.getLogger(__name__)


class RegistryLookupError(MeshployError):
    """A registry plugin failed while looking up a login."""


@dataclass(frozen=True)
class PullLogins:
    """The process's image registries, asked in name order; the first login found wins."""

    registries: tuple[tuple[str, ImageRegistry], ...] = field(default=())

    @classmethod
    def from_catalog(cls, catalog: ImageRegistryCatalog) -> PullLogins:
        """One instance of every registered registry (created with its default config)."""
        return cls(tuple((name, f.create(f.config_type())) for name, f in catalog))

    async def for_image(self, org_id: uuid.UUID, image: str) -> RegistryCredentials | None:
        """The login to pull ``image`` for ``org_id``, or None (pull anonymously)."""
        for name, registry in self.registries:
            try:
                found = await registry.pull_credentials(org_id, image)
            except Exception as exc:  # a plugin's bug must fail this deploy, not the worker
                log.exception("image registry %s failed looking up a login", name)
                raise RegistryLookupError(
                    f"the {name} image registry could not look up a login for {image}: "
                    f"{type(exc).__name__}"
                ) from None
            if found is not None:
                return found
        return None
