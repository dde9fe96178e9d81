"""Front any gRPC service: the edge serving the `google.api.http` rules of a descriptor set.

    python -m edge.front --descriptor-set api.pb --upstream '*=127.0.0.1:9000' \\
        [--upstream pkg.v1.Other=10.0.0.5:9000] [--host 127.0.0.1] [--port 8080] \\
        (--jwt-secret-env NAME | --no-auth) [--rate-limit 600/min] [--uvloop]

The descriptor set is what `protoc --include_imports --descriptor_set_out=api.pb`
writes for the user's protos; no AgentMesh option or generated code is needed.
Every RPC with an http rule is routed by the generic transcoder of
:mod:`edge.app`; upstream keys are a service's full name or ``*`` for the rest.

Two optional steps run before each call, in this order, mirroring the
AgentMesh edge: a bearer JWT check (HS256/384/512 with a secret read from the
environment variable the flag names; a valid, unexpired access token is all a
foreign method asks, unless it is marked public; the token is checked by the
platform's verifier, so it carries ``sub``, ``exp``, ``iat`` and ``typ: "access"``
as :class:`~services.common.tokens.TokenIssuer` writes them), then an in-process limit of
N calls per minute per principal (the token's subject), else per client
address, answered with the standard ``X-RateLimit-*`` headers and a 429 body.
Choosing between a secret and ``--no-auth`` is required, so that a front door
is never left open by omission.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from edge.app import RESPONSE_HEADERS, build_app
from edge.config import EdgeSettings
from edge.errors import EdgeError
from edge.ratelimit import DEFAULT_CLASS, LimitTable, MemoryLimiter, Window, key_for, rate_limit_headers, refusal_fields
from edge.routes import build_router, load_descriptor_set, methods_of
from services.common import logs
from services.common.policy import MethodInfo
from services.common.settings import Settings
from services.common.tokens import Keys, TokenError, TokenVerifier

log = logging.getLogger("agentmesh.edge.front")

TOKEN_CACHE_SIZE = 10_000
_UPSTREAM = re.compile(r"^(\*|[A-Za-z_][A-Za-z0-9_.]*)=(\S+:\d+)$")
_RATE = re.compile(r"^(\d+)(?:/min)?$")
_CHALLENGE = 'Bearer realm="edge"'


class FrontGate:
    """The `authenticate` hook of the transcoder: the bearer token, then the rate limit.

    A token that verified once is remembered (by its exact text, until its
    ``exp``) so that a client reusing it costs a dictionary lookup, not a
    signature check; no revocation feed exists here, so nothing can make a
    remembered token invalid before it expires.
    """

    def __init__(self, verifier: TokenVerifier | None, per_minute: int | None, clock: Callable[[], float]) -> None:
        self._verifier = verifier
        self._clock = clock
        self._tokens: dict[str, tuple[float, str, tuple[tuple[str, str], ...]]] = {}
        self._limiter = MemoryLimiter(clock) if per_minute is not None else None
        self._windows: tuple[Window, ...] = ()
        if per_minute is not None:  # one window, a minute long; LimitTable refuses a limit below 1
            self._windows = LimitTable.build({DEFAULT_CLASS: (per_minute, 0)}, {}).windows(DEFAULT_CLASS)

    async def __call__(self, request: web.Request, info: MethodInfo) -> Sequence[tuple[str, str]]:
        principal = ""
        metadata: tuple[tuple[str, str], ...] = ()
        if self._verifier is not None:
            principal, metadata = self._identify(request.headers.get("Authorization", ""), info)
        if self._limiter is not None:
            key = key_for(principal, request.remote or "", DEFAULT_CLASS)
            decision = self._limiter.decide(key, self._windows, self._clock())
            headers = rate_limit_headers(decision)
            request[RESPONSE_HEADERS] = headers
            if not decision.allowed:
                fields = refusal_fields(decision)
                raise EdgeError(
                    429, str(fields["detail"]), code="RESOURCE_EXHAUSTED", headers=headers,
                    extra={"retry_after": fields["retry_after"]},
                )
        return metadata

    def _identify(self, raw: str, info: MethodInfo) -> tuple[str, tuple[tuple[str, str], ...]]:
        """The token's subject and the metadata the upstream receives; EdgeError 401 otherwise."""
        if not raw:
            if info.policy.public:
                return "", ()
            raise EdgeError(
                401, "authentication required: send 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": _CHALLENGE},
            )
        known = self._tokens.get(raw)
        if known is not None and known[0] > self._clock():
            return known[1], known[2]
        scheme, _, token = raw.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise EdgeError(401, "authorization must be 'Bearer <token>'", headers={"WWW-Authenticate": _CHALLENGE})
        assert self._verifier is not None
        try:
            claims = self._verifier.verify(token)
        except TokenError as exc:
            description = str(exc).replace('"', "'")
            challenge = f'{_CHALLENGE}, error="invalid_token", error_description="{description}"'
            raise EdgeError(401, f"invalid token: {exc}", headers={"WWW-Authenticate": challenge}) from None
        metadata = (("authorization", raw), ("x-user-id", claims.sub))
        if len(self._tokens) >= TOKEN_CACHE_SIZE:
            self._tokens.clear()
        self._tokens[raw] = (claims.exp, claims.sub, metadata)
        return claims.sub, metadata


async def _add_rate_headers(request: web.BaseRequest, response: web.StreamResponse) -> None:
    headers = request.get(RESPONSE_HEADERS) if isinstance(request, web.Request) else None
    if headers:
        for name, value in headers.items():
            response.headers.setdefault(name, value)


def create_front_app(
    descriptor_set: bytes,
    upstreams: Mapping[str, str],
    *,
    jwt_secret: str | bytes | None = None,
    jwt_algorithm: str = "HS256",
    rate_limit_per_minute: int | None = None,
    settings: EdgeSettings | None = None,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    """The edge for every http rule in a serialized FileDescriptorSet; `upstreams` maps a
    service's full name, or `*`, to host:port. No secret: no token check. No limit: no limiting.
    Raises ValueError (RouteError, MissingUpstream, SettingsError) when it cannot serve."""
    router = build_router(methods_of(load_descriptor_set(descriptor_set)))
    if not router.routes:
        raise ValueError("the descriptor set has no google.api.http rules to serve")
    verifier = None
    if jwt_secret is not None:
        verifier = TokenVerifier(Keys.hmac(jwt_algorithm, jwt_secret), Settings(), clock=clock)
    gate = FrontGate(verifier, rate_limit_per_minute, clock)
    hooked = verifier is not None or rate_limit_per_minute is not None
    app = build_app(router, upstreams, authenticate=gate if hooked else None, settings=settings)
    if rate_limit_per_minute is not None and any(t.info.server_streaming for t in router.targets):
        # The dispatcher puts the rate-limit headers on what it answers; a WebSocket handshake,
        # possible only on a streaming route, is answered elsewhere and gets them here.
        app.on_response_prepare.append(_add_rate_headers)
    return app


def parse_upstreams(specs: Sequence[str]) -> dict[str, str]:
    """`KEY=host:port` pairs, KEY a service's full name or `*`."""
    upstreams: dict[str, str] = {}
    for spec in specs:
        found = _UPSTREAM.match(spec)
        if found is None:
            raise ValueError(f"--upstream {spec!r}: expected SERVICE=host:port or *=host:port")
        upstreams[found.group(1)] = found.group(2)
    return upstreams


def parse_rate(text: str) -> int:
    found = _RATE.match(text.strip())
    if found is None or int(found.group(1)) < 1:
        raise ValueError(f"--rate-limit {text!r}: expected N/min with N >= 1")
    return int(found.group(1))


def _arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m edge.front", description="Serve a gRPC service's http rules.")
    parser.add_argument("--descriptor-set", required=True, type=Path, help="protoc --include_imports output")
    parser.add_argument("--upstream", action="append", required=True, metavar="KEY=HOST:PORT")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    auth = parser.add_mutually_exclusive_group(required=True)
    auth.add_argument("--jwt-secret-env", metavar="NAME", help="environment variable holding the HMAC secret")
    auth.add_argument("--no-auth", action="store_true", help="serve without checking tokens")
    parser.add_argument("--jwt-algorithm", default="HS256", choices=("HS256", "HS384", "HS512"))
    parser.add_argument("--rate-limit", metavar="N/min", help="calls per minute per principal or address")
    parser.add_argument("--timeout", type=float, default=30.0, help="deadline of each upstream call, seconds")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop when it is installed")
    parser.add_argument("--log-level", default="INFO")
    return parser


async def serve(app: web.Application, host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT, then drain."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, reuse_address=True).start()
    log.info("serving", extra={"http": f"http://{host}:{port}"})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments().parse_args(argv)
    logs.configure("edge-front", args.log_level.upper(), "json")
    try:
        secret = None
        if args.jwt_secret_env:
            secret = os.environ.get(args.jwt_secret_env, "")  # the one read of the environment, named by the flag
            if not secret:
                raise ValueError(f"--jwt-secret-env: the variable {args.jwt_secret_env} is not set")
        app = create_front_app(
            args.descriptor_set.read_bytes(),
            parse_upstreams(args.upstream),
            jwt_secret=secret,
            jwt_algorithm=args.jwt_algorithm,
            rate_limit_per_minute=parse_rate(args.rate_limit) if args.rate_limit else None,
            settings=EdgeSettings(service_timeout=args.timeout),
        )
    except (OSError, ValueError) as exc:  # SettingsError, RouteError and MissingUpstream are ValueErrors
        print(f"edge.front: {exc}", file=sys.stderr)
        return 2
    loop_factory: Callable[[], Any] | None = None
    if args.uvloop:
        try:
            loop_factory = importlib.import_module("uvloop").new_event_loop
        except ImportError:
            log.warning("uvloop is not installed; running on asyncio's own loop")
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(serve(app, args.host, args.port))
    except OSError as exc:
        log.error("cannot start: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
