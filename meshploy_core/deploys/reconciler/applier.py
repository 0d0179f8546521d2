"""Applying one target: the project's namespace objects, the pull Secret, the service's
objects, all by server-side apply (applying the same objects again is a no-op)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from meshploy_core.deploys.reconciler.targets import Target
from meshploy_core.kube import manifests
from meshploy_core.kube.adapter import KubeAdapter, KubeError
from meshploy_core.registries.logins import PullLogins, RegistryLookupError


@dataclass(frozen=True)
class Applier:
    """Renders a target and applies it; returns why it could not, or None."""

    kube: KubeAdapter
    logins: PullLogins

    async def apply(self, target: Target) -> str | None:
        """Apply ``target``; the reason on failure (the caller decides what it means)."""
        spec = target.spec
        # Logins are looked up now, not snapshotted: a rotated password also serves
        # rollbacks, and a deleted one stops being used.
        try:
            creds = await self.logins.for_image(target.org.id, spec.image)
        except RegistryLookupError as exc:
            return str(exc)
        pull: list[manifests.Manifest] = []
        if creds is not None:
            pull = [manifests.pull_secret(spec, creds.server, creds.username, creds.password)]
            spec = replace(spec, image_pull_secret=manifests.pull_secret_name(spec.service))
        objects = [
            *manifests.project_manifests(
                target.org.slug, target.project.slug, spec.namespace, str(target.project.id)
            ),
            *pull,
            *manifests.service_manifests(spec, str(target.id), target.env),
        ]
        try:
            for manifest in objects:
                await self.kube.apply(manifest)
            if creds is None:  # the login was deleted since the last deploy: drop the copy
                await self.kube.delete(
                    "v1", "Secret", manifests.pull_secret_name(spec.service), spec.namespace
                )
        except KubeError as exc:
            return f"Kubernetes rejected it: {exc}"
        return None
