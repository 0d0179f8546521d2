"""Every hook a Meshploy plugin can implement.

Implement a hook with :data:`meshploy_core.plugins.hookimpl` in a module or object exposed
through the ``meshploy`` entry-point group (built-in plugins use the same group)::

    [project.entry-points.meshploy]
    my_notifier = "my_package.plugin"

Hooks may be plain functions or ``async def``; the core awaits coroutine results. Each plugin's
implementation is called on its own: one that raises is reported (``meshploy plugins list``
shows the error) and the others keep working. Types are imported only for type checking, so
this module imports nothing heavy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from meshploy_core.plugins import hookspec

if TYPE_CHECKING:
    import click
    from quart import Quart

    from meshploy_core.plugins.registries import (
        BackupEngineRegistry,
        BuilderRegistry,
        DnsProviderRegistry,
        ImageRegistryRegistry,
        NotifierRegistry,
        StorageRegistry,
    )


# -- What the platform can do -------------------------------------------------------------


@hookspec
def register_builders(registry: BuilderRegistry) -> Any:
    """Register builders that turn source into images.

    Call ``registry.add(name, builder)`` with an object implementing
    :class:`~meshploy_core.plugins.contracts.Builder`. Builds run as Kubernetes Jobs on nodes
    labelled ``meshploy.com/role=builder``; the builder supplies the container.
    """


@hookspec
def register_dns_providers(registry: DnsProviderRegistry) -> Any:
    """Register DNS-01 providers used to obtain the wildcard certificate.

    Call ``registry.add(name, provider)`` with an object implementing
    :class:`~meshploy_core.plugins.contracts.DnsProvider`. The built-in provider writes
    CoreDNS zone files; a registrar-API provider makes NS delegation optional.
    """


@hookspec
def register_notifiers(registry: NotifierRegistry) -> Any:
    """Register notifier kinds (Slack, Discord, email, signed webhook, ...).

    Call ``registry.add(kind, factory)`` with a
    :class:`~meshploy_core.plugins.contracts.NotifierFactory`: its ``config_type`` validates a
    channel's settings and ``create`` returns a working
    :class:`~meshploy_core.plugins.contracts.Notifier`.
    """


@hookspec
def register_registries(registry: ImageRegistryRegistry) -> Any:
    """Register container image registries (the mesh registry, external ones).

    Call ``registry.add(name, image_registry)`` with an object implementing
    :class:`~meshploy_core.plugins.contracts.ImageRegistry`.
    """


@hookspec
def register_storage(registry: StorageRegistry) -> Any:
    """Register object storage backends for backups and artefacts.

    Call ``registry.add(name, storage)`` with an object implementing
    :class:`~meshploy_core.plugins.contracts.Storage`.
    """


@hookspec
def register_backup_engines(registry: BackupEngineRegistry) -> Any:
    """Register backup engines (databases, volumes).

    Call ``registry.add(name, engine)`` with an object implementing
    :class:`~meshploy_core.plugins.contracts.BackupEngine`.
    """


# -- Wiring into the processes ------------------------------------------------------------


@hookspec
def register_routes(app: Quart) -> Any:
    """Add HTTP routes to the API/dashboard app: ``app.register_blueprint(bp)``.

    Called once, synchronously, by :func:`meshploy_core.app.create_app` while it builds the
    app (so implement it as a plain function, not ``async def``). Every view must declare its
    authorization policy with :func:`meshploy_core.authorization.policy.requires` or
    :func:`~meshploy_core.authorization.policy.public`; a view without one is refused at
    request time.
    """


@hookspec
def register_commands(cli: click.Group) -> Any:
    """Add commands to the ``meshploy`` CLI: ``cli.add_command(my_group)``.

    Called when the CLI starts; keep imports inside the command functions so ``--help``
    stays fast.
    """
