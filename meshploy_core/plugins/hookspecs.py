"""Every hook a Meshploy plugin can implement. The manual is docs/plugins.md.

Implement a hook with :data:`meshploy_core.plugins.hookimpl` in a module or object exposed
through the ``meshploy`` entry-point group (built-in plugins use the same group)::

    [project.entry-points.meshploy]
    my_notifier = "my_package.plugin"

An implementation may take any subset of a hook's arguments (pluggy passes them by name).
Hooks may be plain functions or ``async def`` unless a hook says otherwise; the core awaits
coroutine results. Each plugin's implementations are guarded: one that raises is reported
(``meshploy plugins list`` shows the error, the process logs it) and contributes nothing,
while the other plugins' implementations still run. Hook wrappers
(``@hookimpl(wrapper=True)``) work as in pluggy; they are not isolated.

Types are imported only for type checking, so this module imports nothing heavy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from meshploy_core.plugins import hookspec

if TYPE_CHECKING:
    import click
    from quart import Quart

    from meshploy_core.plugins.catalogs import (
        BackupEngineCatalog,
        BuilderCatalog,
        DnsProviderCatalog,
        ImageRegistryCatalog,
        MeshProviderCatalog,
        NotifierCatalog,
        StorageCatalog,
    )
    from meshploy_core.plugins.context import PluginContext


# -- Configuration ------------------------------------------------------------------------


@hookspec
def plugin_settings() -> type[Any] | None:
    """Declare the model that validates this plugin's settings.

    **Called** once per plugin, in every process, when the plugin manager loads the plugin
    (before any other hook of that plugin); only the plugin's own implementation is called.

    **Returns** a pydantic model or dataclass. The plugin's settings (the
    ``[plugins.<name>]`` table of the config file, then ``MESHPLOY_PLUGIN_<NAME>__<KEY>``
    environment variables) are validated against it and handed to every hook as
    ``context.settings``. Return ``None`` (or do not implement the hook) for a plugin without
    settings; any setting given to such a plugin is an error. Invalid settings disable the
    plugin and are reported with the field and the rule (``plugins.coredns.zone_dir: Field
    required``).

    Example::

        class Settings(pydantic.BaseModel):
            zone_dir: pathlib.Path
            reload_seconds: int = 2

        @hookimpl
        def plugin_settings():
            return Settings
    """


# -- What the platform can do -------------------------------------------------------------


@hookspec
def register_builders(registry: BuilderCatalog, context: PluginContext) -> Any:
    """Register builders that turn source into images (Dockerfile, Railpack, Nixpacks).

    **Called** when a process first needs the builders; **not wired yet**: builds from source
    are on the roadmap, so today only ``meshploy plugins list`` calls it.

    **Arguments**: ``registry.add(kind, factory)`` with a
    :class:`~meshploy_core.plugins.contracts.BuilderFactory` (its ``config_type`` validates a
    service's build options; ``create(config)`` returns a
    :class:`~meshploy_core.plugins.contracts.Builder`); ``context`` is the plugin's
    :class:`~meshploy_core.plugins.context.PluginContext`.

    **Returns** nothing. Builds will run as Kubernetes Jobs on nodes labelled
    ``meshploy.com/role=builder``; the builder supplies the container.

    Example::

        @hookimpl
        def register_builders(registry):
            registry.add("dockerfile", PluginFactory("dockerfile", "Dockerfile with BuildKit",
                                                     DockerfileOptions, DockerfileBuilder))
    """


@hookspec
def register_dns_providers(registry: DnsProviderCatalog, context: PluginContext) -> Any:
    """Register DNS-01 providers used to obtain the wildcard certificate.

    **Called** when a process first needs DNS providers; **not wired yet** (the certificate
    manager is on the roadmap), so today only ``meshploy plugins list`` calls it.

    **Arguments**: ``registry.add(kind, factory)`` with a
    :class:`~meshploy_core.plugins.contracts.DnsProviderFactory`; the provider it creates
    publishes and removes ``_acme-challenge`` TXT records
    (:class:`~meshploy_core.plugins.contracts.DnsProvider`). One provider instance is created
    per process with ``config_type()``; its operator settings come from ``context.settings``.

    **Returns** nothing. The built-in provider will write CoreDNS zone files; a registrar-API
    provider makes NS delegation optional.

    Example::

        @hookimpl
        def register_dns_providers(registry, context):
            registry.add("cloudflare", PluginFactory("cloudflare", "Cloudflare API", NoConfig,
                                                     lambda _: Cloudflare(context.settings.token)))
    """


@hookspec
def register_mesh_providers(registry: MeshProviderCatalog, context: PluginContext) -> Any:
    """Register mesh control planes (Headscale) that workers join.

    **Called** when a process first needs the mesh; **not wired yet** (the mesh is on the
    roadmap), so today only ``meshploy plugins list`` calls it.

    **Arguments**: ``registry.add(kind, factory)`` with a
    :class:`~meshploy_core.plugins.contracts.MeshProviderFactory`; its
    :class:`~meshploy_core.plugins.contracts.MeshProvider` issues single-use join keys and
    lists and removes machines. One instance per process, created with ``config_type()``;
    operator settings (the control server's URL, its API key) come from ``context``.

    **Returns** nothing.

    Example::

        @hookimpl
        def register_mesh_providers(registry, context):
            registry.add("headscale", HeadscaleFactory(context))
    """


@hookspec
def register_notifiers(registry: NotifierCatalog, context: PluginContext) -> Any:
    """Register notifier kinds (Slack, Discord, email, signed webhook, ...).

    **Called** by the API when it first validates or test-sends a notification channel, and
    by every worker (``meshploy worker``) when its delivery loop starts; also by
    ``meshploy plugins list`` and the conformance tests.

    **Arguments**: ``registry.add(kind, factory)`` with a
    :class:`~meshploy_core.plugins.contracts.NotifierFactory`: its ``config_type`` validates a
    channel's settings (what a user stores through the API; unknown settings are refused)
    and ``create(config)`` returns a working
    :class:`~meshploy_core.plugins.contracts.Notifier`. Fields declared with
    ``dataclasses.field(repr=False)`` (or ``pydantic.Field(repr=False)``, or ``SecretStr``)
    are secret: stored sealed, shown as ``********``, scrubbed from error text.

    **Returns** nothing. The delivery worker calls ``send`` once per attempt, with a
    30 s timeout, and retries failed attempts itself with backoff (recording each one), so
    a notifier should make one attempt and raise
    :class:`~meshploy_core.plugins.contracts.NotifierError` (never holding a secret) when it
    fails.

    Example::

        @hookimpl
        def register_notifiers(registry):
            registry.add("webhook", WebhookFactory())
    """


@hookspec
def register_registries(registry: ImageRegistryCatalog, context: PluginContext) -> Any:
    """Register container image registries: where images are pulled from, with which login.

    **Called** by the worker (``meshploy worker``) once it is connected to PostgreSQL, when
    its reconciler starts; the reconciler then asks every registry, at every apply, for the
    login nodes need to pull a service's image
    (:meth:`~meshploy_core.plugins.contracts.ImageRegistry.pull_credentials`, with the
    service's organization). The first registry that answers wins (registries are asked in
    name order).

    **Arguments**: ``registry.add(kind, factory)`` with an
    :class:`~meshploy_core.plugins.contracts.ImageRegistryFactory`; one instance per process,
    created with ``config_type()``. ``context.session()`` gives database access in the worker.

    **Returns** nothing. The built-in ``registries`` plugin registers ``stored-logins``:
    the private-registry logins organizations keep through the API.

    Example::

        @hookimpl
        def register_registries(registry, context):
            registry.add("ecr", PluginFactory("ecr", "AWS ECR tokens", NoConfig,
                                              lambda _: EcrTokens(context.settings)))
    """


@hookspec
def register_storage(registry: StorageCatalog, context: PluginContext) -> Any:
    """Register object storage kinds (a local directory, S3) for backups and artefacts.

    **Called** when a process first needs storage; **not wired yet** (backups are on the
    roadmap), so today only ``meshploy plugins list`` calls it.

    **Arguments**: ``registry.add(kind, factory)`` with a
    :class:`~meshploy_core.plugins.contracts.StorageFactory`; ``config_type`` validates a
    storage target (bucket, endpoint, credentials) and ``create`` returns a
    :class:`~meshploy_core.plugins.contracts.Storage`.

    **Returns** nothing.

    Example::

        @hookimpl
        def register_storage(registry):
            registry.add("s3", PluginFactory("s3", "S3-compatible storage", S3Target, S3))
    """


@hookspec
def register_backup_engines(registry: BackupEngineCatalog, context: PluginContext) -> Any:
    """Register backup engines (PostgreSQL, MySQL, Redis, volumes).

    **Called** when a process first needs backup engines; **not wired yet** (backups are on
    the roadmap), so today only ``meshploy plugins list`` calls it.

    **Arguments**: ``registry.add(kind, factory)`` with a
    :class:`~meshploy_core.plugins.contracts.BackupEngineFactory` whose engine
    (:class:`~meshploy_core.plugins.contracts.BackupEngine`) writes a backup to a
    :class:`~meshploy_core.plugins.contracts.Storage` and restores from it.

    **Returns** nothing.

    Example::

        @hookimpl
        def register_backup_engines(registry):
            registry.add("postgresql", PluginFactory("postgresql", "pg_dump", PgOptions, PgDump))
    """


# -- Wiring into the processes ------------------------------------------------------------


@hookspec
def register_routes(app: Quart, context: PluginContext) -> Any:
    """Add HTTP routes to the API/dashboard app: ``app.register_blueprint(bp)``.

    **Called** once, synchronously, by :func:`meshploy_core.app.factory.create_app` while it
    builds the app, in the API process (``meshploy serve``, ``meshploy dev``) and wherever a
    test builds an app; implement it as a plain function, not ``async def`` (an async one is
    reported as a failure). The route table, the OpenAPI document and the authorization check
    all see every route before the first request.

    **Arguments**: ``app`` is the Quart app; ``context`` has no database yet (handlers use
    the request's session, :func:`meshploy_core.web.context.db`).

    **Returns** nothing. Every view must declare its authorization policy with
    :func:`meshploy_core.authorization.policy.requires` or
    :func:`~meshploy_core.authorization.policy.public`; a view without one is refused at
    request time (403, and an error in the log).

    Example::

        @hookimpl
        def register_routes(app):
            app.register_blueprint(my_blueprint)
    """


@hookspec
def register_commands(cli: click.Group, context: PluginContext) -> Any:
    """Add commands to the ``meshploy`` CLI: ``cli.add_command(my_group)``.

    **Called** synchronously by the CLI process when it needs plugin commands (a command
    that is not a built-in one, or the command list in ``meshploy --help``). Keep imports
    inside the command functions so ``--help`` stays fast; implement it as a plain function.

    **Arguments**: ``cli`` is the root ``click.Group``; ``context`` has the plugin's settings.

    **Returns** nothing. A command name already taken is not replaced; the later plugin's
    command is reported as a failure.

    Example::

        @hookimpl
        def register_commands(cli):
            cli.add_command(my_group)
    """
