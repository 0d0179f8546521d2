"""The plugin manual (docs/plugins.md) and the hook tests keep up with the code.

Like Datasette's own guard: adding a hook or a contract without documenting it, or a hook
without a ``test_hook_<name>`` in tests/plugins/test_hooks.py, fails here.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from typing import Protocol

from meshploy_core.plugins import PROJECT_NAME, contracts, hookspecs

ROOT = Path(__file__).resolve().parents[2]
MANUAL = (ROOT / "docs" / "plugins.md").read_text()


def _hooks() -> list[str]:
    return sorted(
        name
        for name, obj in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(obj, f"{PROJECT_NAME}_spec")
    )


def _contracts() -> list[str]:
    names = []
    for name, obj in inspect.getmembers(contracts, inspect.isclass):
        if obj.__module__ != contracts.__name__ or issubclass(obj, Exception):
            continue
        if Protocol in getattr(obj, "__mro__", ()) or hasattr(obj, "__dataclass_fields__"):
            names.append(name)
    return sorted(names)


def test_the_hook_list_is_what_we_think() -> None:
    assert len(_hooks()) == 10 and "register_routes" in _hooks()


def test_every_hook_has_a_section_in_the_manual() -> None:
    missing = [h for h in _hooks() if f"### `{h}`" not in MANUAL]
    assert not missing, f"docs/plugins.md lacks a '### `name`' section for {missing}"


def test_every_hook_docstring_says_when_and_returns() -> None:
    for name in _hooks():
        doc = inspect.getdoc(getattr(hookspecs, name)) or ""
        assert "**Called**" in doc and "**Returns**" in doc and "Example" in doc, name


def test_every_contract_is_in_the_manual() -> None:
    missing = [c for c in _contracts() if f"`{c}`" not in MANUAL]
    assert not missing, f"docs/plugins.md does not describe {missing}"


def test_every_hook_has_a_test() -> None:
    tree = ast.parse((Path(__file__).with_name("test_hooks.py")).read_text())
    tests = {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    missing = [h for h in _hooks() if f"test_hook_{h}" not in tests]
    assert not missing, f"tests/plugins/test_hooks.py has no test_hook_<name> for {missing}"


def test_hooks_that_are_not_wired_say_so_in_both_places() -> None:
    for name in _hooks():
        doc = inspect.getdoc(getattr(hookspecs, name)) or ""
        section = MANUAL.split(f"### `{name}`", 1)[1].split("\n### ", 1)[0]
        not_wired_doc = "not wired yet" in doc
        not_wired_manual = "not wired yet" in re.sub(r"\*+", "", section).lower()
        assert not_wired_doc == not_wired_manual, name
