"""Conformance test bases a third-party plugin inherits to prove it behaves like ours.

Example, in a notifier package's tests::

    from meshploy_core.testing.conformance import NotifierConformance

    class TestMyNotifier(NotifierConformance):
        @pytest.fixture
        def notifier_factory(self): return MyFactory()

        @pytest.fixture
        def valid_config(self, http_receiver): return MyConfig(url=http_receiver.url, ...)

        @pytest.fixture
        def unreachable_config(self, closed_url): return MyConfig(url=closed_url, ...)

        @pytest.fixture
        def delivered(self, http_receiver):
            return lambda: [r.body.decode() for r in http_receiver.requests]

The ``http_receiver`` and ``closed_url`` fixtures come from Meshploy's pytest plugin.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Callable
from typing import Any

import pytest

from meshploy_core.plugins.contracts import (
    Factory,
    Notification,
    Notifier,
    NotifierError,
    NotifierFactory,
)
from meshploy_core.testing.poll import eventually

SECRET_FIELD = re.compile(r"secret|password|token|key", re.IGNORECASE)


def _secret_values(config: Any) -> list[str]:
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        items = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    else:
        items = dict(getattr(config, "__dict__", {}))
    return [str(v) for k, v in items.items() if SECRET_FIELD.search(k) and v]


class NotifierConformance:
    """What every notifier must do. Subclasses provide the four fixtures named below."""

    @pytest.fixture
    def notifier_factory(self) -> NotifierFactory:
        raise NotImplementedError("provide a notifier_factory fixture")

    @pytest.fixture
    def valid_config(self) -> Any:
        raise NotImplementedError("provide a valid_config fixture (a config that delivers)")

    @pytest.fixture
    def unreachable_config(self) -> Any:
        raise NotImplementedError("provide an unreachable_config fixture")

    @pytest.fixture
    def delivered(self) -> Callable[[], list[str]]:
        raise NotImplementedError("provide a delivered fixture returning what arrived as text")

    def test_kind_and_description(self, notifier_factory: NotifierFactory) -> None:
        assert re.fullmatch(r"[a-z][a-z0-9_-]*", notifier_factory.kind), notifier_factory.kind
        assert notifier_factory.description.strip(), "describe the notifier for humans"
        assert isinstance(notifier_factory, Factory)

    def test_creates_a_notifier(self, notifier_factory: NotifierFactory, valid_config: Any) -> None:
        assert isinstance(valid_config, notifier_factory.config_type)
        assert isinstance(notifier_factory.create(valid_config), Notifier)

    async def test_delivers_title_and_message(
        self,
        notifier_factory: NotifierFactory,
        valid_config: Any,
        delivered: Callable[[], list[str]],
    ) -> None:
        notifier = notifier_factory.create(valid_config)
        note = Notification(
            event="deploy.succeeded",
            title="my-api deployed",
            message="deployment 42 is healthy",
            service="my-api",
        )
        await asyncio.wait_for(notifier.send(note), timeout=30)
        await eventually(
            lambda: any("my-api deployed" in d and "deployment 42" in d for d in delivered()),
            10,
            "the notification to be delivered",
        )

    async def test_unreachable_target_raises_notifier_error_without_secrets(
        self, notifier_factory: NotifierFactory, unreachable_config: Any
    ) -> None:
        notifier = notifier_factory.create(unreachable_config)
        note = Notification(event="test", title="t", message="m")
        with pytest.raises(NotifierError) as info:
            await asyncio.wait_for(notifier.send(note), timeout=60)
        for secret in _secret_values(unreachable_config):
            assert secret not in str(info.value), "a secret leaked into the error message"
