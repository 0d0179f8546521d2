"""Typed settings read from environment variables and an optional TOML config file.

Precedence: environment variable > config file (``MESHPLOY_CONFIG`` or an explicit path) >
default. A missing or malformed value raises :class:`ConfigError` whose message is one line
naming the variable and what is expected. There is no plaintext fallback: without an
``ENCRYPTION_KEY`` nothing that stores secrets starts.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from meshploy_core.errors import ConfigError

T = TypeVar("T")

KEY_BYTES = 32
_DOMAIN_RE = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def parse_key(name: str, raw: str) -> bytes:
    """Decode a 32-byte AES key given as 64 hex characters or base64 (standard or URL-safe)."""
    text = raw.strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", text):
        return bytes.fromhex(text)
    try:
        padded = text + "=" * (-len(text) % 4)
        decoded = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(
            f"{name} must be 32 bytes, base64 or hex; got a value that is neither "
            f"(generate one with: meshploy admin generate-key)"
        ) from None
    if len(decoded) != KEY_BYTES:
        raise ConfigError(
            f"{name} must be 32 bytes, base64 or hex; got {len(decoded)} bytes "
            f"(generate one with: meshploy admin generate-key)"
        )
    return decoded


def _parse_database_url(name: str, raw: str) -> str:
    text = raw.strip()
    if not re.match(r"^postgres(ql)?(\+asyncpg)?://", text):
        raise ConfigError(
            f"{name} must be a PostgreSQL URL like postgresql://user:pass@host:5432/dbname; "
            f"got a value starting with {text.split(':', 1)[0]!r}"
        )
    # Normalise to the asyncpg driver SQLAlchemy needs.
    return re.sub(r"^postgres(ql)?(\+asyncpg)?://", "postgresql+asyncpg://", text)


def _parse_domain(name: str, raw: str) -> str:
    text = raw.strip().lower().rstrip(".")
    if not _DOMAIN_RE.match(text):
        raise ConfigError(f"{name} must be a DNS name like meshploy.example.com; got {raw!r}")
    return text


def _parse_port(name: str, raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a port number 1-65535; got {raw!r}") from None
    if not 1 <= port <= 65535:
        raise ConfigError(f"{name} must be a port number 1-65535; got {port}")
    return port


def parse_bool(name: str, raw: str) -> bool:
    """Parse a boolean setting (1/0, true/false, yes/no, on/off) or raise ConfigError."""
    text = raw.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false; got {raw!r}")


def _parse_log_level(name: str, raw: str) -> str:
    text = raw.strip().upper()
    if text not in _LOG_LEVELS:
        raise ConfigError(f"{name} must be one of {', '.join(_LOG_LEVELS)}; got {raw!r}")
    return text


def _parse_host(name: str, raw: str) -> str:
    text = raw.strip()
    if not text:
        raise ConfigError(f"{name} must be a host name or IP address; got an empty value")
    try:
        ipaddress.ip_address(text)
    except ValueError:
        if not _DOMAIN_RE.match(text.lower()):
            raise ConfigError(f"{name} must be a host name or IP address; got {raw!r}") from None
    return text


def _parse_key_list(name: str, raw: str) -> tuple[bytes, ...]:
    return tuple(parse_key(name, part) for part in raw.split(",") if part.strip())


def _int_parser(low: int, high: int, unit: str = "") -> Callable[[str, str], int]:
    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ConfigError(
                f"{name} must be a whole number {low}-{high}{unit}; got {raw!r}"
            ) from None
        if not low <= value <= high:
            raise ConfigError(f"{name} must be a whole number {low}-{high}{unit}; got {value}")
        return value

    return parse


def _parse_networks(
    name: str, raw: str
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    networks = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ConfigError(
                f"{name} must be a comma-separated list of IP addresses or CIDR networks "
                f"like 127.0.0.1/32,10.0.0.0/8; got {part!r}"
            ) from None
    return tuple(networks)


@dataclass(frozen=True)
class Settings:
    """Everything configurable about a Meshploy process. Build with :func:`load_settings`."""

    database_url: str | None = None
    encryption_key: bytes | None = field(default=None, repr=False)
    previous_encryption_keys: tuple[bytes, ...] = field(default=(), repr=False)
    domain: str = "meshploy.localhost"
    host: str = "127.0.0.1"
    port: int = 8080
    log_level: str = "INFO"
    kubeconfig: str | None = None
    secure_cookies: bool = True
    proxy_port: int = 8081
    proxy_admin_port: int = 9091
    #: bcrypt cost factor for new password hashes (tests use 4; production keeps 12).
    bcrypt_rounds: int = 12
    #: How long a login session (cookie or bearer) lasts, in seconds.
    session_ttl: int = 12 * 3600
    #: Failed logins allowed per account, and per client address, within ``login_window``.
    login_account_limit: int = 10
    login_ip_limit: int = 50
    login_window: int = 900
    #: Days a job run's output is kept after the run ends (the pod is gone long before).
    job_log_retention_days: int = 7
    #: Peers whose X-Forwarded-For is believed (Caddy and the edge proxy); empty trusts none.
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    #: Each plugin's own settings, by normalized plugin name (see :func:`normalize_plugin_name`):
    #: the ``[plugins.<name>]`` tables of the config file, overridden by
    #: ``MESHPLOY_PLUGIN_<NAME>__<KEY>`` variables. Validated by the plugin manager against the
    #: model each plugin declares (``plugin_settings`` hook).
    plugins: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, repr=False)

    def require_database_url(self) -> str:
        """Return the database URL or stop with the one-line error naming the variable."""
        if not self.database_url:
            raise ConfigError(
                "DATABASE_URL is not set; expected a PostgreSQL URL like "
                "postgresql://user:pass@host:5432/meshploy (or run `meshploy dev`, which "
                "starts its own PostgreSQL)"
            )
        return self.database_url

    def require_encryption_key(self) -> bytes:
        """Return the current encryption key; there is no plaintext fallback."""
        if self.encryption_key is None:
            raise ConfigError(
                "ENCRYPTION_KEY is not set; expected 32 bytes, base64 or hex "
                "(generate one with: meshploy admin generate-key)"
            )
        return self.encryption_key


@dataclass(frozen=True)
class _Var:
    attr: str
    env: str
    parse: Callable[[str, str], Any]


_VARS: tuple[_Var, ...] = (
    _Var("database_url", "DATABASE_URL", _parse_database_url),
    _Var("encryption_key", "ENCRYPTION_KEY", parse_key),
    _Var("previous_encryption_keys", "ENCRYPTION_KEY_PREVIOUS", _parse_key_list),
    _Var("domain", "MESHPLOY_DOMAIN", _parse_domain),
    _Var("host", "MESHPLOY_HOST", _parse_host),
    _Var("port", "MESHPLOY_PORT", _parse_port),
    _Var("log_level", "MESHPLOY_LOG_LEVEL", _parse_log_level),
    _Var("kubeconfig", "KUBECONFIG", lambda _n, v: v.strip() or None),
    _Var("secure_cookies", "MESHPLOY_SECURE_COOKIES", parse_bool),
    _Var("proxy_port", "MESHPLOY_PROXY_PORT", _parse_port),
    _Var("proxy_admin_port", "MESHPLOY_PROXY_ADMIN_PORT", _parse_port),
    _Var("bcrypt_rounds", "MESHPLOY_BCRYPT_ROUNDS", _int_parser(4, 31)),
    _Var("session_ttl", "MESHPLOY_SESSION_TTL", _int_parser(60, 90 * 86400, " seconds")),
    _Var("login_account_limit", "MESHPLOY_LOGIN_ACCOUNT_LIMIT", _int_parser(1, 100000)),
    _Var("login_ip_limit", "MESHPLOY_LOGIN_IP_LIMIT", _int_parser(1, 1000000)),
    _Var("login_window", "MESHPLOY_LOGIN_WINDOW", _int_parser(1, 86400, " seconds")),
    _Var(
        "job_log_retention_days",
        "MESHPLOY_JOB_LOG_RETENTION_DAYS",
        _int_parser(1, 3650, " days"),
    ),
    _Var("trusted_proxies", "MESHPLOY_TRUSTED_PROXIES", _parse_networks),
)


PLUGIN_ENV_PREFIX = "MESHPLOY_PLUGIN_"


def normalize_plugin_name(name: str) -> str:
    """How plugin names are compared in settings: lower case, ``-`` as ``_``."""
    return name.strip().lower().replace("-", "_")


def _plugin_sections(
    file_sections: Any, env: Mapping[str, str], path: Path | None
) -> dict[str, dict[str, Any]]:
    sections: dict[str, dict[str, Any]] = {}
    if file_sections is not None:
        if not isinstance(file_sections, dict) or not all(
            isinstance(v, dict) for v in file_sections.values()
        ):
            raise ConfigError(
                f"MESHPLOY_CONFIG file {path}: 'plugins' must hold one table per plugin, "
                "like [plugins.coredns]"
            )
        for name, values in file_sections.items():
            sections.setdefault(normalize_plugin_name(name), {}).update(values)
    for key, value in env.items():
        if not key.startswith(PLUGIN_ENV_PREFIX):
            continue
        name, sep, setting = key[len(PLUGIN_ENV_PREFIX) :].partition("__")
        if not sep or not name or not setting:
            raise ConfigError(
                f"{key} must look like MESHPLOY_PLUGIN_<NAME>__<SETTING> (two underscores "
                "between the plugin name and the setting)"
            )
        sections.setdefault(normalize_plugin_name(name), {})[setting.lower()] = value
    return sections


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"MESHPLOY_CONFIG points to {path}, which does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"MESHPLOY_CONFIG file {path} is not valid TOML: {exc}") from None
    known = {v.env for v in _VARS}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == "plugins":
            values["plugins"] = value
            continue
        env_name = key.upper()
        if env_name not in known:
            raise ConfigError(
                f"MESHPLOY_CONFIG file {path} has unknown setting {key!r}; "
                f"known: {', '.join(sorted(k.lower() for k in known))}, and [plugins.<name>] "
                "tables"
            )
        values[env_name] = value if isinstance(value, str) else str(value).lower()
    return values


def load_settings(
    environ: Mapping[str, str] | None = None, config_file: str | Path | None = None
) -> Settings:
    """Read settings from ``environ`` (default ``os.environ``) and an optional TOML file.

    Keys in the file are the variable names in lower case (``database_url = "..."``).
    Raises :class:`ConfigError` on the first missing or malformed value.
    """
    env = dict(os.environ if environ is None else environ)
    path = config_file or env.get("MESHPLOY_CONFIG")
    sources: dict[str, Any] = _read_config_file(Path(path)) if path else {}
    file_plugins = sources.pop("plugins", None)
    sources.update({k: v for k, v in env.items() if k in {var.env for var in _VARS}})
    values: dict[str, Any] = {
        "plugins": _plugin_sections(file_plugins, env, Path(path) if path else None)
    }
    for var in _VARS:
        raw = sources.get(var.env)
        if raw is None or (raw.strip() == "" and var.attr != "kubeconfig"):
            continue
        values[var.attr] = var.parse(var.env, raw)
    return Settings(**values)
