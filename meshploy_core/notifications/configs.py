"""Channel settings: validating them with the notifier's ``config_type``, storing them as
JSON, and hiding their secret fields.

A field is **secret** when its notifier says so the way Meshploy's contracts always do:
``dataclasses.field(repr=False)`` (or ``pydantic.Field(repr=False)``, or a ``SecretStr``).
Secret values are stored sealed with the rest and never returned: reads show
``"********"`` in their place.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError

from meshploy_core.errors import ValidationFailed
from meshploy_core.plugins.catalogs import config_of
from meshploy_core.plugins.contracts import NotifierFactory

MASK = "********"


def secret_fields(config_type: type[Any]) -> frozenset[str]:
    """Names of the fields of ``config_type`` that are secret (see the module doc)."""
    if dataclasses.is_dataclass(config_type):
        return frozenset(f.name for f in dataclasses.fields(config_type) if not f.repr)
    if isinstance(config_type, type) and issubclass(config_type, BaseModel):
        return frozenset(
            name
            for name, info in config_type.model_fields.items()
            if not info.repr or info.annotation is SecretStr
        )
    return frozenset()


def field_names(config_type: type[Any]) -> frozenset[str]:
    """The settings ``config_type`` takes (empty when it cannot tell)."""
    if dataclasses.is_dataclass(config_type):
        return frozenset(f.name for f in dataclasses.fields(config_type))
    if isinstance(config_type, type) and issubclass(config_type, BaseModel):
        return frozenset(config_type.model_fields)
    return frozenset()


def to_json(config: Any) -> dict[str, Any]:
    """A validated config as plain JSON (secret values included: for sealed storage)."""
    if isinstance(config, BaseModel):
        data = config.model_dump(mode="json")
        for name, value in vars(config).items():
            if isinstance(value, SecretStr):
                data[name] = value.get_secret_value()
        return dict(data)
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        raw = json.loads(json.dumps(dataclasses.asdict(config), default=str))
        assert isinstance(raw, dict)
        return raw
    raise TypeError(f"cannot store a {type(config).__name__} config")


def validate(factory: NotifierFactory, raw: dict[str, Any]) -> Any:
    """``raw`` validated by the factory's ``config_type``; ValidationFailed names each field
    (``config.url: ...``) without echoing any value; unknown fields are refused (a typo
    must not fall back to a default)."""
    known = field_names(factory.config_type)
    unknown = sorted(set(raw) - known) if known else []
    if unknown:
        errors = {
            f"config.{k[:64]}": f"unknown setting; {factory.kind} takes: {', '.join(sorted(known))}"
            for k in unknown
        }
        raise ValidationFailed(
            f"the {factory.kind} settings are invalid: unknown {', '.join(unknown)}", errors
        )
    try:
        return config_of(factory, raw)
    except ValidationError as exc:
        errors = {}
        for err in exc.errors(include_url=False, include_input=False, include_context=False):
            loc = ".".join(str(p) for p in err["loc"])
            errors[f"config.{loc}" if loc else "config"] = err["msg"].removeprefix("Value error, ")
        summary = "; ".join(f"{k}: {v}" for k, v in list(errors.items())[:5])
        raise ValidationFailed(
            f"the {factory.kind} settings are invalid: {summary}", errors
        ) from None
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(
            f"the {factory.kind} settings are invalid: {exc}", {"config": str(exc)}
        ) from None


def public(factory: NotifierFactory | None, stored: dict[str, Any]) -> dict[str, Any]:
    """What a read shows of stored settings: secret fields masked (unknown kind: all)."""
    hidden = secret_fields(factory.config_type) if factory is not None else frozenset(stored)
    return {k: (MASK if k in hidden and v not in (None, "") else v) for k, v in stored.items()}


def secret_values(factory: NotifierFactory | None, stored: dict[str, Any]) -> list[str]:
    """The secret values in stored settings (scrubbed from any error text)."""
    hidden = secret_fields(factory.config_type) if factory is not None else frozenset(stored)
    return [str(v) for k, v in stored.items() if k in hidden and v and len(str(v)) >= 4]


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` with every secret value replaced by the mask."""
    for value in secrets:
        text = text.replace(value, MASK)
    return text


def field_of_address(stored: dict[str, Any]) -> str:
    """The settings field that says where deliveries go (for an "unreachable" error)."""
    for name in ("url", "host", "webhook_url"):
        if name in stored:
            return f"config.{name}"
    return "config"


__all__ = [
    "MASK",
    "field_of_address",
    "public",
    "scrub",
    "secret_fields",
    "secret_values",
    "to_json",
    "validate",
]
