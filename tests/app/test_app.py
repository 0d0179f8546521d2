"""The app factory: probes, request ids, start-up and shutdown on a real database."""

from __future__ import annotations

import pytest

from meshploy_core.app.factory import create_app
from meshploy_core.app.state import state
from meshploy_core.errors import ConfigError
from meshploy_core.plugins.manager import PluginManager
from meshploy_core.settings import Settings, load_settings
from tests.fixtures.postgres import settings_for


async def test_probes_and_request_id(settings: Settings) -> None:
    app = create_app(settings, PluginManager.load(use_entry_points=False))
    async with app.test_app():
        client = app.test_client()
        health = await client.get("/healthz")
        assert health.status_code == 200 and await health.get_json() == {"status": "ok"}
        ready = await client.get("/readyz")
        body = await ready.get_json()
        assert ready.status_code == 200, body
        assert body["status"] == "ready"
        assert len(ready.headers["X-Request-Id"]) == 16
        echoed = await client.get("/healthz", headers={"X-Request-Id": "client-chosen-123"})
        assert echoed.headers["X-Request-Id"] == "client-chosen-123"
        hostile = await client.get("/healthz", headers={"X-Request-Id": "bad id; <script>"})
        assert hostile.headers["X-Request-Id"] != "bad id; <script>"
    assert state(app).engine is None, "shutdown must dispose the engine"


async def test_readyz_reports_schema_behind(empty_database_url: str) -> None:
    app = create_app(settings_for(empty_database_url), PluginManager.load(use_entry_points=False))
    async with app.test_app():
        ready = await app.test_client().get("/readyz")
        body = await ready.get_json()
    assert ready.status_code == 503
    assert "run: meshploy db upgrade" in body["detail"]


async def test_readyz_reports_unreachable_database() -> None:
    settings = settings_for("postgresql://u:pw@127.0.0.1:1/x")
    app = create_app(settings, PluginManager.load(use_entry_points=False))
    async with app.test_app():
        ready = await app.test_client().get("/readyz")
        body = await ready.get_json()
    assert ready.status_code == 503
    assert "cannot reach the database" in body["detail"]
    assert "pw" not in body["detail"]


def test_app_refuses_to_build_without_key_or_database() -> None:
    with pytest.raises(ConfigError, match="ENCRYPTION_KEY is not set"):
        create_app(load_settings({"DATABASE_URL": "postgresql://u@h/d"}))
    with pytest.raises(ConfigError, match="DATABASE_URL is not set"):
        create_app(load_settings({"ENCRYPTION_KEY": "00" * 32}))
