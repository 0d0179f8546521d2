"""The API command groups of ``meshploy`` (``org``, ``project``, ``service`` ...), built lazily.

The root command lists the groups without importing the client: a group builds its commands
(generated ones from the operation table, plus the hand-written ones of :data:`EXTRAS`) the
first time it is asked for them, so ``meshploy --help`` and shell completion stay fast.
"""

from __future__ import annotations

import importlib

import click

#: noun -> help line. Every noun of the operation table must be here (a test checks).
NOUN_HELP = {
    "auth": "Log in and out; your account, password and two-factor authentication.",
    "org": "Organizations: create, rename, transfer, delete; the default organization.",
    "member": "Members of an organization and their roles.",
    "invitation": "Invitations to join an organization.",
    "token": "Your personal API tokens.",
    "agent-token": "An organization's agent tokens (for CI and the MCP server).",
    "project": "Projects: groups of services (one Kubernetes namespace each).",
    "service": "Services: what runs, how, with which environment; deploy them.",
    "deployment": "Deployments: status, logs (--follow), rollback, cancel.",
    "audit": "The organization's audit log.",
    "registry-credential": "Logins for private container registries (images are pulled with them).",
    "job": "Cron jobs: schedule, trigger, runs with exit codes, their output (logs).",
    "variable-group": "Variable groups: shared, sealed env variables for services and jobs.",
    "notification-channel": "Notification channels (Slack, Discord, email, webhook): events.",
    "event": "The organization's event stream (deployments, job runs, nodes, ...).",
}

#: noun -> hand-written commands ("module:attribute"); they replace the generic commands of
#: the operations they cover.
EXTRAS = {
    "auth": [
        "meshploy_core.cli.auth:login_cmd",
        "meshploy_core.cli.auth:logout_cmd",
        "meshploy_core.cli.auth:whoami_cmd",
    ],
    "org": ["meshploy_core.cli.auth:org_use_cmd"],
    "service": [
        "meshploy_core.cli.service:deploy_cmd",
        "meshploy_core.cli.service:env_group",
        "meshploy_core.cli.service:logs_cmd",
    ],
    "job": ["meshploy_core.cli.job:logs_cmd"],
    "deployment": [
        "meshploy_core.cli.deployment:logs_cmd",
        "meshploy_core.cli.deployment:rollback_cmd",
    ],
}


def _load(target: str) -> click.Command:
    module, _, attr = target.partition(":")
    command = getattr(importlib.import_module(module), attr)
    assert isinstance(command, click.Command)
    return command


class NounGroup(click.Group):
    """``meshploy <noun>``: its commands are built on first use."""

    def __init__(self, noun: str, help_text: str) -> None:
        super().__init__(noun, help=help_text, short_help=help_text)
        self.noun = noun
        self._loaded = False

    def load(self) -> None:
        """Build the commands (once)."""
        if self._loaded:
            return
        self._loaded = True
        from meshploy_core.cli.api_commands import covered_by, generic_commands

        extras = [_load(target) for target in EXTRAS.get(self.noun, ())]
        covered = [op for command in extras for op in covered_by(command)]
        for command in [*generic_commands(self.noun, covered), *extras]:
            self.add_command(command)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self.load()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self.load()
        return super().get_command(ctx, cmd_name)


def noun_groups() -> list[NounGroup]:
    """One lazily built group per noun."""
    return [NounGroup(noun, text) for noun, text in NOUN_HELP.items()]
