"""Settings: the seeds' names, validation with clear messages, no surprises."""

from __future__ import annotations

import pytest

from services.common.settings import Settings, SettingsError

GOOD_SECRET = "x" * 40


def test_defaults_are_the_documented_ones() -> None:
    s = Settings.from_env({})
    assert s.ports["auth"] == 50051
    assert s.ports["admin"] == 50057
    assert s.jwt_algorithm == "HS256"
    assert s.jwt_expiration_minutes == 30
    assert s.service_timeout == 30.0
    assert s.gateway_port == 8000
    assert s.jwt_secret_generated
    assert len(s.jwt_secret) >= 32
    assert any("JWT_SECRET" in p for p in s.unsafe_defaults())


@pytest.mark.parametrize(
    ("env", "attr", "expected"),
    [
        ({"SECRET_KEY": GOOD_SECRET}, "jwt_secret", GOOD_SECRET),
        ({"ALGORITHM": "hs512"}, "jwt_algorithm", "HS512"),
        ({"ACCESS_TOKEN_EXPIRE_MINUTES": "45"}, "jwt_expiration_minutes", 45),
        ({"JWT_EXPIRATION_MINUTES": "15", "ACCESS_TOKEN_EXPIRE_MINUTES": "45"}, "jwt_expiration_minutes", 15),
        ({"SERVICE_TIMEOUT": "5s"}, "service_timeout", 5.0),
        ({"CORS_ORIGINS": "https://a.example, https://b.example"}, "cors_origins",
         ("https://a.example", "https://b.example")),
        ({"CONSUL_HTTP_ADDR": "127.0.0.1:8500"}, "consul_http_addr", "http://127.0.0.1:8500"),
        ({"REDIS_URL": "redis://127.0.0.1:6379/0"}, "redis_url", "redis://127.0.0.1:6379/0"),
        ({"GATEWAY_PORT": "9000"}, "gateway_port", 9000),
    ],
)
def test_seed_names_and_aliases(env: dict[str, str], attr: str, expected: object) -> None:
    assert getattr(Settings.from_env(env), attr) == expected


def test_unit_port_override() -> None:
    s = Settings.from_env({"AGENTMESH_TASK_PORT": "6000"})
    assert s.ports["task"] == 6000
    assert s.ports["agent"] == 50052


@pytest.mark.parametrize(
    ("env", "mentions"),
    [
        ({"GATEWAY_PORT": "eighty"}, "GATEWAY_PORT"),
        ({"GATEWAY_PORT": "70000"}, "GATEWAY_PORT"),
        ({"AGENTMESH_AUTH_PORT": "-1"}, "AGENTMESH_AUTH_PORT"),
        ({"JWT_ALGORITHM": "none"}, "JWT_ALGORITHM"),
        ({"ALGORITHM": "XS256"}, "ALGORITHM"),
        ({"JWT_SECRET": "short"}, "at least 32 bytes"),
        ({"JWT_EXPIRATION_MINUTES": "0"}, "JWT_EXPIRATION_MINUTES"),
        ({"ACCESS_TOKEN_EXPIRE_MINUTES": "soon"}, "ACCESS_TOKEN_EXPIRE_MINUTES"),
        ({"SERVICE_TIMEOUT": "fast"}, "SERVICE_TIMEOUT"),
        ({"SERVICE_TIMEOUT": "0"}, "SERVICE_TIMEOUT"),
        ({"REDIS_URL": "http://127.0.0.1:6379"}, "REDIS_URL"),
        ({"DATABASE_URL": "mysql://db/x"}, "DATABASE_URL"),
        ({"RATE_LIMIT_DEFAULT": "0"}, "RATE_LIMIT_DEFAULT"),
        ({"LOG_LEVEL": "chatty"}, "LOG_LEVEL"),
    ],
)
def test_bad_values_are_refused_with_the_variable_named(env: dict[str, str], mentions: str) -> None:
    with pytest.raises(SettingsError, match=mentions):
        Settings.from_env(env)


def test_password_in_url_is_not_echoed() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"REDIS_URL": "http://user:hunter2hunter2@host:1"})
    assert "hunter2hunter2" not in str(info.value)


def test_settings_are_frozen() -> None:
    s = Settings.from_env({})
    with pytest.raises(AttributeError):
        s.gateway_port = 1  # type: ignore[misc]
