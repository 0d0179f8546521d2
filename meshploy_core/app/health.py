"""``/healthz`` (the process is up) and ``/readyz`` (database reachable, schema current)."""

from __future__ import annotations

from quart import Blueprint, current_app

from meshploy_core.app.state import state
from meshploy_core.db.migrate import SchemaStatus, schema_state
from meshploy_core.errors import DatabaseError


def health_blueprint() -> Blueprint:
    """A blueprint with the two probe endpoints (public, no secrets in answers)."""
    bp = Blueprint("health", __name__)

    @bp.get("/healthz")
    async def healthz() -> tuple[dict[str, str], int]:
        return {"status": "ok"}, 200

    @bp.get("/readyz")
    async def readyz() -> tuple[dict[str, str | None], int]:
        engine = state(current_app).engine
        if engine is None:
            return {"status": "starting", "detail": "database engine not open yet"}, 503
        try:
            schema = await schema_state(engine)
        except DatabaseError as exc:
            return {"status": "unavailable", "detail": str(exc)}, 503
        if schema.status is not SchemaStatus.CURRENT:
            return {
                "status": "unavailable",
                "detail": f"database schema is {schema.status.value} "
                f"(at {schema.current}, code expects {schema.head}); run: meshploy db upgrade",
            }, 503
        return {"status": "ready", "schema": schema.current}, 200

    return bp
