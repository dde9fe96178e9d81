"""The API document and its two readers: ``/openapi.json``, Swagger UI at ``/docs``, ReDoc at ``/redoc``.

The pages work offline. Their scripts and styles come from the
``drf-spectacular-sidecar`` wheel on PyPI, which ships the Swagger UI and
ReDoc distribution bundles as plain files; only those files are read (the
package itself, which imports Django, is never imported). Nothing points to a
CDN, and the pages carry no inline script, so they run under a strict
Content-Security-Policy.

Assets are served under ``/docs/static/<tag>/...`` where ``<tag>`` changes
whenever the bundles or this module's start-up script do, so they can be
cached for a year. Each is read once, on first request, and kept with its
gzip form.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import html
import importlib.metadata
import importlib.util
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

ASSET_DISTRIBUTION = "drf-spectacular-sidecar"
_ASSET_PACKAGE = "drf_spectacular_sidecar"
_JS = "text/javascript; charset=utf-8"
_CSS = "text/css; charset=utf-8"
_JSON = "application/json"
_LONG_CACHE = "public, max-age=31536000, immutable"
# The pages load scripts and styles from this origin only; both UIs set inline
# styles, ReDoc runs its search index in a blob: worker, Swagger UI draws data: images.
# ReDoc's footer badge points at its vendor's CDN: img-src keeps the browser from fetching it.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
# URL name under the static prefix -> file under the wheel's static root.
_BUNDLED: Mapping[str, str] = {
    "swagger-ui/swagger-ui-bundle.js": "swagger-ui-dist/swagger-ui-bundle.js",
    "swagger-ui/swagger-ui.css": "swagger-ui-dist/swagger-ui.css",
    "redoc/redoc.standalone.js": "redoc/bundles/redoc.standalone.js",
}
# Starts Swagger UI from a file rather than an inline script (CSP). The spec URL
# is read from the page, so this text never changes with the edge's settings.
_SWAGGER_START = """\
"use strict";
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    domNode: root,
    deepLinking: true,
    displayRequestDuration: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
});
"""

OpenApiSource = Callable[[], Mapping[str, Any] | bytes]


class DocsAssetsError(RuntimeError):
    """The documentation bundles are not installed (requirements.txt names their package)."""


@dataclass(slots=True)
class _Asset:
    """One response body, read (or made) once, kept with its gzip form and its ETag."""

    content_type: str
    cache_control: str = _LONG_CACHE
    path: Path | None = None
    body: bytes | None = None
    gzipped: bytes | None = None
    etag: str = ""

    async def load(self) -> tuple[bytes, bytes]:
        if self.body is None or self.gzipped is None:
            body, packed = await asyncio.to_thread(self._read)
            self.body, self.gzipped = body, packed
            self.etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        return self.body, self.gzipped

    def _read(self) -> tuple[bytes, bytes]:
        body = self.body if self.body is not None else self.path.read_bytes() if self.path else b""
        return body, gzip.compress(body, compresslevel=6, mtime=0)

    async def respond(self, request: web.Request) -> web.Response:
        body, packed = await self.load()
        headers = {"Cache-Control": self.cache_control, "ETag": self.etag, "Vary": "Accept-Encoding"}
        if _not_modified(request, self.etag):
            return web.Response(status=304, headers=headers)
        headers["Content-Type"] = self.content_type
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            headers["Content-Encoding"] = "gzip"
            body = packed
        return web.Response(body=body, headers=headers)


def asset_root() -> tuple[Path, str]:
    """Where the installed bundles are, and the version of the wheel that ships them."""
    spec = importlib.util.find_spec(_ASSET_PACKAGE)  # locates the package without running it
    locations = list(spec.submodule_search_locations or ()) if spec is not None else []
    if not locations:
        raise DocsAssetsError(f"/docs and /redoc need {ASSET_DISTRIBUTION}: pip install -r requirements.txt")
    root = Path(locations[0]) / "static" / _ASSET_PACKAGE
    missing = [name for name in _BUNDLED.values() if not (root / name).is_file()]
    if missing:
        raise DocsAssetsError(f"{ASSET_DISTRIBUTION} at {root} lacks {', '.join(missing)}")
    return root, importlib.metadata.version(ASSET_DISTRIBUTION)


def _not_modified(request: web.Request, etag: str) -> bool:
    sent = request.headers.get("If-None-Match", "")
    return bool(etag) and any(tag.strip() in (etag, "*") for tag in sent.split(","))


def _page(title: str, head: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n{head}</head>\n<body>\n{body}</body>\n</html>\n"
    )


class _DocRoutes:
    """The handlers, holding the assets and the serialized document between requests."""

    def __init__(self, openapi: OpenApiSource, *, title: str, openapi_url: str, docs_url: str) -> None:
        self.openapi = openapi
        root, version = asset_root()
        # changes whenever the bundles' version or the start-up script does
        tag = hashlib.sha256(f"{version}\0{_SWAGGER_START}".encode()).hexdigest()[:12]
        self.static = f"{docs_url}/static/{tag}"
        self.assets: dict[str, _Asset] = {name: _Asset(_type(name), path=root / rel) for name, rel in _BUNDLED.items()}
        self.assets["agentmesh/swagger-start.js"] = _Asset(_JS, body=_SWAGGER_START.encode())
        spec = html.escape(openapi_url, quote=True)
        self.swagger_page = _page(
            f"{title} — Swagger UI",
            f'<link rel="stylesheet" href="{self.url("swagger-ui/swagger-ui.css")}">\n',
            f'<div id="swagger-ui" data-spec-url="{spec}"></div>\n'
            f'<script src="{self.url("swagger-ui/swagger-ui-bundle.js")}"></script>\n'
            f'<script src="{self.url("agentmesh/swagger-start.js")}"></script>\n',
        ).encode()
        self.redoc_page = _page(
            f"{title} — ReDoc",
            "",
            f'<redoc spec-url="{spec}"></redoc>\n<script src="{self.url("redoc/redoc.standalone.js")}"></script>\n',
        ).encode()
        self._source: object = None
        self._document = _Asset(_JSON, cache_control="no-cache")

    def url(self, name: str) -> str:
        return f"{self.static}/{name}"

    async def swagger(self, request: web.Request) -> web.Response:
        return self._html(self.swagger_page)

    async def redoc(self, request: web.Request) -> web.Response:
        return self._html(self.redoc_page)

    def _html(self, body: bytes) -> web.Response:
        headers = {"Cache-Control": "no-cache", "Content-Security-Policy": PAGE_CSP}
        return web.Response(body=body, content_type="text/html", charset="utf-8", headers=headers)

    async def document(self, request: web.Request) -> web.Response:
        source = self.openapi()
        if source is not self._source:  # serialize once per document the provider hands out
            data = source if isinstance(source, bytes) else await asyncio.to_thread(_dumps, source)
            self._document = _Asset(_JSON, cache_control="no-cache", body=data)
            self._source = source
        return await self._document.respond(request)

    @staticmethod
    def asset_handler(asset: _Asset) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def serve(request: web.Request) -> web.Response:
            return await asset.respond(request)

        return serve


def _dumps(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def _type(name: str) -> str:
    return _CSS if name.endswith(".css") else _JS


def add_doc_routes(
    app: web.Application,
    openapi_provider: OpenApiSource,
    *,
    title: str = "AgentMesh API",
    openapi_url: str = "/openapi.json",
    docs_url: str = "/docs",
    redoc_url: str = "/redoc",
    serve_openapi: bool = True,
) -> None:
    """Register GET ``openapi_url`` (unless ``serve_openapi`` is false), ``docs_url``, ``redoc_url``
    and the assets under ``{docs_url}/static/``.

    ``openapi_provider`` returns the document (a mapping, or its JSON bytes);
    it is called per request and the bytes are re-serialized only when it
    hands out a different object, so a caching provider costs nothing.
    Raises :class:`DocsAssetsError` at once when the bundles are missing.
    """
    routes = _DocRoutes(openapi_provider, title=title, openapi_url=openapi_url, docs_url=docs_url)
    if serve_openapi:
        app.router.add_get(openapi_url, routes.document)
    app.router.add_get(docs_url, routes.swagger)
    app.router.add_get(redoc_url, routes.redoc)
    for name, asset in routes.assets.items():
        app.router.add_get(routes.url(name), routes.asset_handler(asset))
