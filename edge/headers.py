"""CORS and the security headers every edge response carries (seed 003's list).

Both are added in aiohttp's `on_response_prepare` signal, so streamed answers
(NDJSON, SSE, WebSocket handshakes) get them too: a middleware would see a
streamed response only after its headers have left.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-XSS-Protection": "0",
    "Referrer-Policy": "no-referrer",
}
ALLOWED_HEADERS = (
    "Authorization, Content-Type, X-API-Key, X-Request-ID, X-Request-Timeout, Grpc-Timeout, Last-Event-ID"
)
EXPOSED_HEADERS = "X-Request-ID, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After"
ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"


class HeaderPolicy:
    def __init__(self, origins: Sequence[str], *, max_age: int = 600) -> None:
        self.any_origin = "*" in origins
        self.origins = frozenset(origins)
        self.max_age = max_age

    def allowed_origin(self, origin: str) -> str | None:
        if not origin:
            return None
        if self.any_origin:
            return "*"
        return origin if origin in self.origins else None

    async def on_prepare(self, request: web.BaseRequest, response: web.StreamResponse) -> None:
        self.apply(request, response)

    def apply(self, request: web.BaseRequest, response: web.StreamResponse) -> None:
        """The security and CORS headers of one response (for callers with a prepare hook of their own)."""
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        granted = self.allowed_origin(request.headers.get("Origin", ""))
        if granted is not None:
            response.headers["Access-Control-Allow-Origin"] = granted
            response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
            if granted != "*":
                response.headers["Access-Control-Allow-Credentials"] = "true"
                response.headers.add("Vary", "Origin")

    @web.middleware
    async def preflight(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Answers CORS preflights before routing; everything else passes through."""
        answer = self.answer(request)
        return answer if answer is not None else await handler(request)

    def answer(self, request: web.Request) -> web.Response | None:
        """The answer to a CORS preflight, or None for any other request."""
        if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
            return None
        if self.allowed_origin(request.headers.get("Origin", "")) is None:
            return web.Response(status=403, text="origin not allowed")
        response = web.Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = str(self.max_age)
        return response

    def install(self, app: web.Application) -> None:
        app.middlewares.append(self.preflight)
        app.on_response_prepare.append(self.on_prepare)
