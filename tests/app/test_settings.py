"""Settings: every malformed value stops start-up with one line naming the variable."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from meshploy_core.errors import ConfigError
from meshploy_core.settings import load_settings

KEY_HEX = "00" * 32
KEY_B64 = base64.b64encode(bytes(range(32))).decode()


def test_defaults_and_database_url_normalised() -> None:
    s = load_settings({"DATABASE_URL": "postgres://u:p@h:5432/db", "ENCRYPTION_KEY": KEY_HEX})
    assert s.database_url == "postgresql+asyncpg://u:p@h:5432/db"
    assert s.encryption_key == bytes(32)
    assert s.port == 8080
    assert s.domain == "meshploy.localhost"


def test_key_accepts_base64_and_urlsafe_and_hex() -> None:
    assert load_settings({"ENCRYPTION_KEY": KEY_B64}).encryption_key == bytes(range(32))
    urlsafe = base64.urlsafe_b64encode(bytes(range(200, 232))).decode().rstrip("=")
    assert load_settings({"ENCRYPTION_KEY": urlsafe}).encryption_key == bytes(range(200, 232))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"ENCRYPTION_KEY": base64.b64encode(b"x" * 12).decode()},
            "ENCRYPTION_KEY must be 32 bytes, base64 or hex; got 12 bytes",
        ),
        ({"ENCRYPTION_KEY": "not a key!"}, "ENCRYPTION_KEY must be 32 bytes, base64 or hex"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL must be a PostgreSQL URL"),
        ({"MESHPLOY_DOMAIN": "bad_domain!"}, "MESHPLOY_DOMAIN must be a DNS name"),
        ({"MESHPLOY_PORT": "99999"}, "MESHPLOY_PORT must be a port number 1-65535; got 99999"),
        ({"MESHPLOY_PORT": "eighty"}, "MESHPLOY_PORT must be a port number"),
        ({"MESHPLOY_SECURE_COOKIES": "maybe"}, "MESHPLOY_SECURE_COOKIES must be true or false"),
        ({"MESHPLOY_LOG_LEVEL": "loud"}, "MESHPLOY_LOG_LEVEL must be one of"),
        ({"ENCRYPTION_KEY_PREVIOUS": f"{KEY_HEX},abc"}, "ENCRYPTION_KEY_PREVIOUS must be 32"),
    ],
)
def test_malformed_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    text = str(info.value)
    assert message in text, f"got {text!r}, want it to contain {message!r}"
    assert "\n" not in text


def test_missing_key_has_no_plaintext_fallback() -> None:
    s = load_settings({"DATABASE_URL": "postgresql://u@h/db"})
    assert s.encryption_key is None
    with pytest.raises(ConfigError, match="ENCRYPTION_KEY is not set"):
        s.require_encryption_key()


def test_missing_database_url_is_explained() -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL is not set"):
        load_settings({}).require_database_url()


def test_config_file_with_env_override(tmp_path: Path) -> None:
    cfg = tmp_path / "meshploy.toml"
    cfg.write_text(
        f'meshploy_domain = "paas.example.com"\nencryption_key = "{KEY_HEX}"\n'
        "meshploy_port = 9000\n"
    )
    s = load_settings({"MESHPLOY_CONFIG": str(cfg), "MESHPLOY_PORT": "9100"})
    assert (s.domain, s.port, s.encryption_key) == ("paas.example.com", 9100, bytes(32))


def test_config_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("not = [valid")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings({"MESHPLOY_CONFIG": str(bad)})
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('databse_url = "x"\n')
    with pytest.raises(ConfigError, match="unknown setting 'databse_url'"):
        load_settings({"MESHPLOY_CONFIG": str(unknown)})
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings({"MESHPLOY_CONFIG": str(tmp_path / "missing.toml")})


def test_settings_repr_hides_keys() -> None:
    s = load_settings({"ENCRYPTION_KEY": KEY_HEX, "DATABASE_URL": "postgresql://u:pw@h/d"})
    assert KEY_HEX not in repr(s) and "encryption_key" not in repr(s)
