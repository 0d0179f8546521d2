"""The CLI's shape: a command for every API operation, completion, fast help, exit codes."""

from __future__ import annotations

import os
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from meshploy_core.cli.api_commands import covered_by
from meshploy_core.cli.main import cli
from meshploy_core.cli.nouns import NOUN_HELP
from meshploy_core.client.operations import BY_ID, OPERATIONS


def _walk(command: click.Command, ctx: click.Context, path: str) -> dict[str, click.Command]:
    found = {path: command}
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, f"{path} {name} is listed but cannot be loaded"
            found |= _walk(sub, click.Context(sub, parent=ctx, info_name=name), f"{path} {name}")
    return found


def every_command() -> dict[str, click.Command]:
    """Every command of ``meshploy``, by its full name."""
    with click.Context(cli, info_name="meshploy") as ctx:
        return _walk(cli, ctx, "meshploy")


def test_every_operation_has_a_cli_command() -> None:
    covering: dict[str, list[str]] = {}
    for name, command in every_command().items():
        for op in getattr(command, "meshploy_operations", ()):
            covering.setdefault(op, []).append(name)
    missing = sorted(set(BY_ID) - set(covering))
    assert not missing, f"operations without a CLI command: {missing}"
    unknown = sorted(set(covering) - set(BY_ID))
    assert not unknown, f"commands claim operations the API does not have: {unknown}"


def test_commands_have_the_documented_shapes() -> None:
    commands = every_command()
    for name in (
        "meshploy auth login",
        "meshploy auth logout",
        "meshploy auth whoami",
        "meshploy org use",
        "meshploy project list",
        "meshploy service create",
        "meshploy service list",
        "meshploy service deploy",
        "meshploy service env set",
        "meshploy service env unset",
        "meshploy deployment list",
        "meshploy deployment logs",
        "meshploy deployment rollback",
        "meshploy token revoke",
    ):
        assert name in commands, name
    create = commands["meshploy service create"]
    params = {p.name: p for p in create.params}
    assert isinstance(params["b__name"], click.Argument)
    assert {"--project", "--image", "--port", "--json"} <= {
        opt for p in create.params for opt in getattr(p, "opts", ())
    }
    deploy_opts = {o for p in commands["meshploy service deploy"].params for o in p.opts}
    assert {"--project", "--image", "--no-wait", "--json"} <= deploy_opts
    logs_opts = {o for p in commands["meshploy deployment logs"].params for o in p.opts}
    assert {"--follow", "--json"} <= logs_opts


def test_every_api_command_takes_json() -> None:
    for name, command in every_command().items():
        if getattr(command, "meshploy_operations", ()) or name == "meshploy org use":
            opts = {o for p in command.params for o in getattr(p, "opts", ())}
            assert "--json" in opts, f"{name} has no --json"


def test_nouns_are_the_operation_tables() -> None:
    assert {op.noun for op in OPERATIONS} == set(NOUN_HELP)


def test_generic_commands_are_replaced_not_duplicated() -> None:
    for noun in NOUN_HELP:
        group = every_command()[f"meshploy {noun}"]
        assert isinstance(group, click.Group)
        claims = [op for command in group.commands.values() for op in covered_by(command)]
        doubles = {op for op in claims if claims.count(op) > 1} - {"update_env"}
        assert not doubles, f"{noun}: operations with two commands: {doubles}"


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MESHPLOY_")}
    return subprocess.run(
        [sys.executable, "-m", "meshploy_core", *args],
        env=clean | (env or {}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts(shell: str) -> None:
    script = _run("completion", shell)
    assert script.returncode == 0, script.stderr
    assert "_MESHPLOY_COMPLETE" in script.stdout
    builtin = _run(env={"_MESHPLOY_COMPLETE": f"{shell}_source"})
    assert builtin.returncode == 0 and builtin.stdout == script.stdout


def test_completion_completes_nouns_and_verbs() -> None:
    env = {"_MESHPLOY_COMPLETE": "bash_complete", "COMP_WORDS": "meshploy serv", "COMP_CWORD": "1"}
    assert "plain,service" in _run(env=env).stdout.splitlines()
    env |= {"COMP_WORDS": "meshploy service d", "COMP_CWORD": "2"}
    words = {line.split(",", 1)[1] for line in _run(env=env).stdout.splitlines()}
    assert words == {"delete", "deploy"}


def test_help_imports_nothing_heavy() -> None:
    probe = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from meshploy_core.cli.main import cli\n"
        "for args in (['--help'], ['service', '--help'], ['service', 'create', '--help']):\n"
        "    result = CliRunner().invoke(cli, args)\n"
        "    assert result.exit_code == 0, result.output\n"
        "heavy = ('sqlalchemy', 'quart', 'alembic', 'kubernetes', 'meshploy_core.app', 'mcp')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_usage_errors_exit_2_and_api_errors_exit_1() -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["service", "create"]).exit_code == 2
    assert runner.invoke(cli, ["service", "create", "x", "--port", "eighty"]).exit_code == 2
    assert runner.invoke(cli, ["nope"]).exit_code == 2
    result = _run(
        "project", "list", env={"HOME": "/nonexistent", "XDG_CONFIG_HOME": "/nonexistent"}
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: not logged in: run `meshploy auth login")
