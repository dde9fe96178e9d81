"""Process settings: one frozen object, built once from the environment.

This is the only module that reads ``os.environ`` (in :func:`load`). Everything
else receives a :class:`Settings` explicitly, and tests build one from a dict
with :meth:`Settings.from_env`. The seeds' variable names are accepted as
aliases of ours (``SECRET_KEY`` for ``JWT_SECRET`` and so on).
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urlparse

UNITS: tuple[str, ...] = ("auth", "agent", "task", "persona", "speech", "analytics", "admin")
DEFAULT_PORTS: Mapping[str, int] = MappingProxyType(
    {unit: 50051 + i for i, unit in enumerate(UNITS)}
)
DEFAULT_METRICS_PORTS: Mapping[str, int] = MappingProxyType(
    {unit: 9101 + i for i, unit in enumerate(UNITS)}
)
JWT_ALGORITHMS = ("HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

# (our name, aliases the seeds use), first match wins.
_ALIASES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "JWT_SECRET": ("SECRET_KEY",),
        "JWT_ALGORITHM": ("ALGORITHM",),
        "JWT_EXPIRATION_MINUTES": ("ACCESS_TOKEN_EXPIRE_MINUTES",),
    }
)


class SettingsError(ValueError):
    """A setting has a value the platform cannot run with; the message names it."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a unit or the edge needs to know about its environment."""

    data_dir: Path = Path("data")
    host: str = "127.0.0.1"
    ports: Mapping[str, int] = field(default_factory=lambda: DEFAULT_PORTS)
    # Where each unit is reached when it does not run on `host` (AGENTMESH_<UNIT>_HOST, e.g. a container name).
    hosts: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    metrics_ports: Mapping[str, int] = field(default_factory=lambda: DEFAULT_METRICS_PORTS)
    jwt_secret: str = field(default="", repr=False)
    jwt_secret_generated: bool = True
    jwt_algorithm: str = "HS256"
    jwt_expiration_minutes: int = 30
    refresh_expiration_days: int = 7
    jwt_issuer: str = ""
    jwt_audience: str = ""
    # PEM text of the RS*/ES* keys; a unit that only verifies needs only the public key.
    # JWT_PUBLIC_KEY may hold several PEM blocks (the current key and the ones being retired).
    jwt_private_key: str = field(default="", repr=False)
    jwt_public_key: str = ""
    jwt_leeway_seconds: int = 30
    # Shared by the units to authenticate internal (role "service") calls.
    service_secret: str = field(default="", repr=False)
    admin_api_key: str = field(default="", repr=False)
    redis_url: str = field(default="", repr=False)
    database_url: str = field(default="", repr=False)
    # With a PostgreSQL DATABASE_URL, each unit keeps its tables in the schema <prefix><unit>.
    database_schema_prefix: str = "agentmesh_"
    consul_http_addr: str = ""
    # The address other hosts reach this process at, as registered in Consul (default: AGENTMESH_HOST, or
    # this machine's name when that is a wildcard such as 0.0.0.0).
    advertise_host: str = ""
    # How often Consul runs a unit's gRPC health check.
    consul_check_interval: float = 10.0
    cors_origins: tuple[str, ...] = ("*",)
    gateway_port: int = 8000
    rate_limit_default: int = 60
    service_timeout: float = 30.0
    grace_period: float = 10.0
    log_level: str = "INFO"
    log_format: str = "json"
    # LLM path (speech unit): the default provider ("echo" is the built-in deterministic one, for
    # development; "openai" is any OpenAI-compatible HTTP server), its model and where it is.
    llm_provider: str = "echo"
    llm_model: str = ""
    openai_base_url: str = "https://api.openai.com/v1"
    openai_api_key: str = field(default="", repr=False)
    llm_timeout: float = 60.0
    llm_cache_ttl: float = 3600.0
    # Encrypts secrets kept at rest (agents' provider keys). Derived from JWT_SECRET when unset.
    encryption_key: str = field(default="", repr=False)
    # Task unit: concurrent tasks per process, and a task's deadline when it names none.
    task_workers: int = 16
    task_timeout: float = 300.0
    # Persona unit: executions run at once per process.
    persona_workers: int = 8
    # Runners (tasks, persona executions, analyses) renew a lease in their unit's database; one not renewed
    # for this long is taken for crashed and its work is taken over by the unit's other replicas.
    lease_ttl: float = 5.0
    # Open WebSockets one user may hold on one edge process.
    ws_max_sockets_per_user: int = 100
    # Set by `make run`'s supervisor, which prints the start-up warnings once for all processes.
    supervised: bool = False
    extra: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Build and validate settings; raise SettingsError naming the bad variable."""
        env = _Reader(environ)
        secret = env.text("JWT_SECRET", "")
        ports = {u: env.port(f"AGENTMESH_{u.upper()}_PORT", DEFAULT_PORTS[u]) for u in UNITS}
        hosts = {u: env.text(f"AGENTMESH_{u.upper()}_HOST", "") for u in UNITS}
        metrics_ports = {
            u: env.port(f"AGENTMESH_{u.upper()}_METRICS_PORT", DEFAULT_METRICS_PORTS[u])
            for u in UNITS
        }
        algorithm = env.choice("JWT_ALGORITHM", "HS256", JWT_ALGORITHMS, upper=True)
        if algorithm.startswith("HS") and secret and len(secret.encode()) < 32:
            raise SettingsError(
                "JWT_SECRET: an HMAC secret must be at least 32 bytes; "
                "generate one with `python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
            )
        private_key = env.pem("JWT_PRIVATE_KEY")
        public_key = env.pem("JWT_PUBLIC_KEY")
        if not algorithm.startswith("HS") and not (private_key or public_key):
            raise SettingsError(
                f"JWT_ALGORITHM={algorithm} needs a key: set JWT_PRIVATE_KEY or JWT_PRIVATE_KEY_FILE "
                "(to sign) or JWT_PUBLIC_KEY or JWT_PUBLIC_KEY_FILE (to verify only)"
            )
        service_secret = env.text("AGENTMESH_SERVICE_SECRET", "")
        if service_secret and len(service_secret.encode()) < 32:
            raise SettingsError("AGENTMESH_SERVICE_SECRET: must be at least 32 bytes")
        settings = cls(
            data_dir=Path(env.text("AGENTMESH_DATA_DIR", "data")),
            host=env.text("AGENTMESH_HOST", "127.0.0.1"),
            ports=MappingProxyType(ports),
            hosts=MappingProxyType({u: h for u, h in hosts.items() if h}),
            metrics_ports=MappingProxyType(metrics_ports),
            jwt_secret=secret or secrets.token_urlsafe(48),
            jwt_secret_generated=not secret,
            jwt_algorithm=algorithm,
            jwt_expiration_minutes=env.integer("JWT_EXPIRATION_MINUTES", 30, low=1, high=24 * 60),
            refresh_expiration_days=env.integer("REFRESH_TOKEN_EXPIRE_DAYS", 7, low=1, high=365),
            jwt_issuer=env.text("JWT_ISSUER", ""),
            jwt_audience=env.text("JWT_AUDIENCE", ""),
            jwt_private_key=private_key,
            jwt_public_key=public_key,
            jwt_leeway_seconds=env.integer("JWT_LEEWAY_SECONDS", 30, low=0, high=300),
            service_secret=service_secret,
            admin_api_key=env.text("ADMIN_API_KEY", ""),
            redis_url=env.url("REDIS_URL", ("redis", "rediss", "unix")),
            database_url=env.url("DATABASE_URL", ("sqlite", "postgresql", "postgres")),
            database_schema_prefix=env.matching("DATABASE_SCHEMA_PREFIX", "agentmesh_", r"[a-z_][a-z0-9_]{0,40}"),
            consul_http_addr=env.url("CONSUL_HTTP_ADDR", ("http", "https"), bare_host=True),
            advertise_host=env.text("AGENTMESH_ADVERTISE_HOST", ""),
            consul_check_interval=env.number("CONSUL_CHECK_INTERVAL", 10.0, low=0.1, high=3600.0),
            cors_origins=env.csv("CORS_ORIGINS", ("*",)),
            gateway_port=env.port("GATEWAY_PORT", 8000),
            rate_limit_default=env.integer("RATE_LIMIT_DEFAULT", 60, low=1, high=1_000_000),
            service_timeout=env.number("SERVICE_TIMEOUT", 30.0, low=0.1, high=3600.0),
            grace_period=env.number("AGENTMESH_GRACE_PERIOD", 10.0, low=0.0, high=600.0),
            log_level=env.choice("LOG_LEVEL", "INFO", LOG_LEVELS, upper=True),
            log_format=env.choice("AGENTMESH_LOG_FORMAT", "json", ("json", "text")),
            supervised=env.text("AGENTMESH_SUPERVISED", "") == "1",
            llm_provider=env.choice("LLM_PROVIDER", "echo", ("echo", "openai")),
            llm_model=env.text("LLM_MODEL", ""),
            openai_base_url=env.url("OPENAI_BASE_URL", ("http", "https")) or "https://api.openai.com/v1",
            openai_api_key=env.text("OPENAI_API_KEY", ""),
            llm_timeout=env.number("LLM_TIMEOUT", 60.0, low=0.1, high=3600.0),
            llm_cache_ttl=env.number("LLM_CACHE_TTL", 3600.0, low=0.0, high=30 * 86400.0),
            encryption_key=env.text("AGENTMESH_ENCRYPTION_KEY", ""),
            task_workers=env.integer("TASK_WORKERS", 16, low=1, high=1024),
            ws_max_sockets_per_user=env.integer("WS_MAX_SOCKETS_PER_USER", 100, low=1, high=100_000),
            task_timeout=env.number("TASK_TIMEOUT", 300.0, low=1.0, high=86400.0),
            persona_workers=env.integer("PERSONA_WORKERS", 8, low=1, high=1024),
            lease_ttl=env.number("AGENTMESH_LEASE_TTL", 5.0, low=0.2, high=600.0),
        )
        return settings

    def address(self, unit: str) -> str:
        """host:port where the unit is reached (its own host when one is set, else the shared one)."""
        return f"{self.hosts.get(unit, self.host)}:{self.ports[unit]}"

    def unsafe_defaults(self) -> list[str]:
        """What would be unsafe in production, for the loud start-up warning."""
        problems = []
        if self.jwt_secret_generated and self.jwt_algorithm.startswith("HS"):
            problems.append(
                "JWT_SECRET is not set: a random secret was generated for this process; "
                "tokens will not survive a restart nor verify across processes"
            )
        if self.cors_origins == ("*",):
            problems.append("CORS_ORIGINS allows every origin (*)")
        if not self.encryption_key:
            problems.append(
                "AGENTMESH_ENCRYPTION_KEY is not set: stored provider keys are encrypted with a key derived "
                "from JWT_SECRET, so rotating JWT_SECRET makes them unreadable"
            )
        if not self.admin_api_key:
            problems.append("ADMIN_API_KEY is not set: the seed 000 admin-key login is disabled")
        return problems


class _Reader:
    """Typed, validated access to an environment mapping, with the seeds' aliases."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._env = environ

    def _raw(self, name: str) -> tuple[str, str] | None:
        for key in (name, *_ALIASES.get(name, ())):
            value = self._env.get(key)
            if value is not None and value.strip() != "":
                return key, value.strip()
        return None

    def text(self, name: str, default: str) -> str:
        found = self._raw(name)
        return found[1] if found else default

    def integer(self, name: str, default: int, *, low: int, high: int) -> int:
        found = self._raw(name)
        if not found:
            return default
        key, value = found
        try:
            number = int(value)
        except ValueError:
            raise SettingsError(f"{key}={value!r}: expected a whole number") from None
        if not low <= number <= high:
            raise SettingsError(f"{key}={number}: must be between {low} and {high}")
        return number

    def number(self, name: str, default: float, *, low: float, high: float) -> float:
        found = self._raw(name)
        if not found:
            return default
        key, value = found
        try:
            number = float(value.removesuffix("s"))
        except ValueError:
            raise SettingsError(f"{key}={value!r}: expected a number of seconds") from None
        if not low <= number <= high:
            raise SettingsError(f"{key}={number}: must be between {low} and {high}")
        return number

    def port(self, name: str, default: int) -> int:
        return self.integer(name, default, low=0, high=65535)

    def matching(self, name: str, default: str, pattern: str) -> str:
        found = self._raw(name)
        if not found:
            return default
        key, value = found
        if not re.fullmatch(pattern, value):
            raise SettingsError(f"{key}={value!r}: expected text matching {pattern}")
        return value

    def choice(self, name: str, default: str, allowed: tuple[str, ...], *, upper: bool = False) -> str:
        found = self._raw(name)
        if not found:
            return default
        key, value = found
        value = value.upper() if upper else value.lower()
        if value not in allowed:
            raise SettingsError(f"{key}={value!r}: expected one of {', '.join(allowed)}")
        return value

    def pem(self, name: str) -> str:
        """PEM text from NAME, or from the file named by NAME_FILE; "" when neither is set."""
        inline = self._raw(name)
        path = self._raw(f"{name}_FILE")
        if inline and path:
            raise SettingsError(f"{name} and {name}_FILE are both set; set only one")
        if path:
            key, value = path
            try:
                text = Path(value).expanduser().read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise SettingsError(f"{key}={value!r}: cannot read the key file ({exc})") from None
        elif inline:
            key, text = inline
            # One-line environments (container runtimes, .env files) often carry "\n" escapes.
            if "\n" not in text and "\\n" in text:
                text = text.replace("\\n", "\n")
        else:
            return ""
        if "-----BEGIN " not in text or "-----END " not in text:
            raise SettingsError(f"{key}: expected a PEM key (-----BEGIN ... KEY-----)")
        return text

    def csv(self, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
        found = self._raw(name)
        if not found:
            return default
        return tuple(part.strip() for part in found[1].split(",") if part.strip())

    def url(self, name: str, schemes: tuple[str, ...], *, bare_host: bool = False) -> str:
        found = self._raw(name)
        if not found:
            return ""
        key, value = found
        if bare_host and "://" not in value:
            value = f"http://{value}"
        parsed = urlparse(value)
        if parsed.scheme not in schemes:
            raise SettingsError(
                f"{key}={_redact(value)!r}: scheme must be one of {', '.join(schemes)}"
            )
        if parsed.scheme not in ("unix", "sqlite") and not parsed.hostname:
            raise SettingsError(f"{key}={_redact(value)!r}: no host in the URL")
        return value


def _redact(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url


def load() -> Settings:
    """Settings of this process, from its environment."""
    return Settings.from_env(os.environ)


def environment() -> dict[str, str]:
    """A copy of this process's environment, for the supervisor to hand to its children."""
    return dict(os.environ)
