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
        ({"DATABASE_SCHEMA_PREFIX": "prod_"}, "database_schema_prefix", "prod_"),
        ({}, "database_schema_prefix", "agentmesh_"),
    ],
)
def test_seed_names_and_aliases(env: dict[str, str], attr: str, expected: object) -> None:
    assert getattr(Settings.from_env(env), attr) == expected


def test_a_unit_on_its_own_host_is_reached_there() -> None:
    settings = Settings.from_env({"AGENTMESH_HOST": "0.0.0.0", "AGENTMESH_SPEECH_HOST": "speech",
                                  "AGENTMESH_SPEECH_PORT": "6000"})
    assert settings.address("speech") == "speech:6000"
    assert settings.address("auth") == "0.0.0.0:50051"


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
        ({"DATABASE_SCHEMA_PREFIX": "Prod-"}, "DATABASE_SCHEMA_PREFIX"),
        ({"DATABASE_SCHEMA_PREFIX": "x" * 42}, "DATABASE_SCHEMA_PREFIX"),  # the unit name must still fit in 63
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


# -- JWT keys, leeway and the service secret ------------------------------------------

FAKE_PEM = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----"
FAKE_PRIVATE_PEM = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49\n-----END PRIVATE KEY-----"


def test_new_jwt_settings_defaults() -> None:
    s = Settings.from_env({})
    assert (s.jwt_private_key, s.jwt_public_key, s.jwt_leeway_seconds, s.service_secret) == ("", "", 30, "")


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "RS512", "ES384"])
def test_asymmetric_algorithm_needs_a_key(algorithm: str) -> None:
    with pytest.raises(SettingsError, match=f"JWT_ALGORITHM={algorithm}.*JWT_PRIVATE_KEY"):
        Settings.from_env({"JWT_ALGORITHM": algorithm})
    with pytest.raises(SettingsError, match="JWT_ALGORITHM"):
        Settings.from_env({"ALGORITHM": algorithm.lower(), "JWT_SECRET": GOOD_SECRET})


@pytest.mark.parametrize(
    ("env", "private", "public"),
    [
        ({"JWT_PRIVATE_KEY": FAKE_PRIVATE_PEM}, FAKE_PRIVATE_PEM, ""),
        ({"JWT_PUBLIC_KEY": FAKE_PEM}, "", FAKE_PEM),
        ({"JWT_PRIVATE_KEY": FAKE_PRIVATE_PEM.replace("\n", "\\n")}, FAKE_PRIVATE_PEM, ""),
        ({"JWT_PUBLIC_KEY": FAKE_PEM, "JWT_PRIVATE_KEY": FAKE_PRIVATE_PEM}, FAKE_PRIVATE_PEM, FAKE_PEM),
    ],
)
def test_asymmetric_keys_inline(env: dict[str, str], private: str, public: str) -> None:
    s = Settings.from_env({"JWT_ALGORITHM": "ES256", **env})
    assert (s.jwt_algorithm, s.jwt_private_key, s.jwt_public_key) == ("ES256", private, public)


def test_asymmetric_keys_from_files(tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("keys")
    private, public = folder / "private.pem", folder / "public.pem"
    private.write_text(FAKE_PRIVATE_PEM + "\n")
    public.write_text(FAKE_PEM + "\n")
    s = Settings.from_env(
        {"JWT_ALGORITHM": "RS256", "JWT_PRIVATE_KEY_FILE": str(private), "JWT_PUBLIC_KEY_FILE": str(public)}
    )
    assert (s.jwt_private_key, s.jwt_public_key) == (FAKE_PRIVATE_PEM, FAKE_PEM)


@pytest.mark.parametrize(
    ("env", "mentions"),
    [
        ({"JWT_ALGORITHM": "RS256", "JWT_PRIVATE_KEY_FILE": "/nonexistent/key.pem"}, "JWT_PRIVATE_KEY_FILE"),
        ({"JWT_ALGORITHM": "RS256", "JWT_PUBLIC_KEY": "not a pem"}, "JWT_PUBLIC_KEY"),
        ({"JWT_ALGORITHM": "RS256", "JWT_PUBLIC_KEY": FAKE_PEM, "JWT_PUBLIC_KEY_FILE": "/x.pem"}, "only one"),
        ({"JWT_LEEWAY_SECONDS": "301"}, "JWT_LEEWAY_SECONDS"),
        ({"JWT_LEEWAY_SECONDS": "-1"}, "JWT_LEEWAY_SECONDS"),
        ({"JWT_LEEWAY_SECONDS": "soon"}, "JWT_LEEWAY_SECONDS"),
        ({"AGENTMESH_SERVICE_SECRET": "short"}, "AGENTMESH_SERVICE_SECRET"),
    ],
)
def test_bad_key_settings_are_refused(env: dict[str, str], mentions: str) -> None:
    with pytest.raises(SettingsError, match=mentions):
        Settings.from_env(env)


def test_key_file_that_is_not_pem(tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("keys") / "key.txt"
    path.write_text("hello")
    with pytest.raises(SettingsError, match="JWT_PRIVATE_KEY_FILE"):
        Settings.from_env({"JWT_ALGORITHM": "ES256", "JWT_PRIVATE_KEY_FILE": str(path)})


@pytest.mark.parametrize(("value", "expected"), [("0", 0), ("300", 300), ("5", 5)])
def test_leeway(value: str, expected: int) -> None:
    assert Settings.from_env({"JWT_LEEWAY_SECONDS": value}).jwt_leeway_seconds == expected


def test_service_secret_and_hmac_ignores_asymmetric_keys() -> None:
    s = Settings.from_env({"AGENTMESH_SERVICE_SECRET": GOOD_SECRET, "JWT_SECRET": GOOD_SECRET})
    assert s.service_secret == GOOD_SECRET
    assert s.jwt_algorithm == "HS256" and s.jwt_private_key == ""


def test_secrets_and_private_key_are_not_in_repr() -> None:
    s = Settings.from_env(
        {"JWT_ALGORITHM": "ES256", "JWT_PRIVATE_KEY": FAKE_PRIVATE_PEM, "AGENTMESH_SERVICE_SECRET": GOOD_SECRET}
    )
    assert "PRIVATE KEY" not in repr(s)
    assert GOOD_SECRET not in repr(s)


def test_secrets_stay_out_of_the_settings_repr() -> None:
    settings = Settings.from_env(
        {
            "JWT_SECRET": "s" * 40 + "-jwt",
            "ADMIN_API_KEY": "admin-key-that-must-not-show",
            "DATABASE_URL": "postgresql://app:dbpassword@db/agentmesh",
            "REDIS_URL": "redis://:redispassword@cache:6379/0",
        }
    )
    text = repr(settings)
    for secret in ("-jwt", "admin-key-that-must-not-show", "dbpassword", "redispassword"):
        assert secret not in text
