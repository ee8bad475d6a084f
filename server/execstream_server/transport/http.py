"""The HTTP port: the web dashboard's static files and gRPC-Web, in the server's process.

One aiohttp application on ``--http-host``/``--http-port``: ``GET /`` serves the dashboard
(built into ``execstream_server/web/static``), ``POST /execstream.v1.ExecutionService/*``
serves gRPC-Web (``grpcweb_handler``). Before anything else, a request whose ``Host`` the
port does not answer is refused with 421 (``http_hosts``: DNS rebinding). Every path is
relative, so the whole site can sit under a reverse proxy's path prefix. Cross-origin
calls are refused by browsers unless ``--http-allow-origin`` names the one other origin
allowed (CORS); the page itself is same-origin. TLS uses the gRPC port's PEM files.
"""

from __future__ import annotations

import ssl
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from execstream_server.config import ServerConfig
from execstream_server.transport.grpcweb import percent_encode
from execstream_server.transport.grpcweb_handler import EXPOSED_HEADERS, GrpcWebHandler
from execstream_server.transport.http_hosts import HostPolicy
from execstream_server.transport.inprocess import MethodRouter

STATIC_DIR = Path(str(resources.files("execstream_server") / "web" / "static"))
# The page loads only its own files and calls only its own origin.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
_ALLOWED_REQUEST_HEADERS = (
    "authorization, content-type, grpc-timeout, x-grpc-web, x-user-agent, connect-protocol-version"
)
_PERMISSION_DENIED = 7


def tls_context(config: ServerConfig) -> ssl.SSLContext | None:
    """TLS from --tls-cert/--tls-key (and client certificates with --tls-client-ca)."""
    if not config.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(config.tls_cert, config.tls_key)
    if config.tls_client_ca:
        context.load_verify_locations(config.tls_client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def build_application(
    router: MethodRouter, config: ServerConfig, *, grpc_port: int, static_dir: Path = STATIC_DIR
) -> web.Application:
    """The aiohttp application (no socket): Host check, static page, gRPC-Web and CORS."""
    policy = HostPolicy(config.http_host, config.http_allow_hosts)
    app = web.Application(middlewares=[_host_guard(policy)])
    _cors(app, config.http_allow_origin)
    calls = GrpcWebHandler(
        router,
        grpc_port=grpc_port,
        max_message_bytes=config.limits.max_message_bytes,
        final_write_timeout_s=config.limits.watch_write_timeout_s,
    )
    app.router.add_post("/{service:[A-Za-z0-9_.]+}/{method:[A-Za-z0-9_]+}", calls.handle)
    index = static_dir / "index.html"

    async def page(_request: web.Request) -> web.StreamResponse:
        return web.FileResponse(index, headers=_PAGE_HEADERS)

    app.router.add_get("/", page)
    app.router.add_get("/index.html", page)
    app.router.add_static("/static/", static_dir, append_version=False)
    app.on_response_prepare.append(_revalidate_static)
    return app


def _host_guard(policy: HostPolicy) -> Any:
    """Refuse, before anything else, a request whose ``Host`` the port does not answer."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        port = int(sockname[1]) if sockname else 0
        host = request.headers.get(hdrs.HOST, "")
        if policy.allows(host, port=port, secure=request.secure):
            return await handler(request)
        message = (
            f"Host {host!r} is not served here: the dashboard answers loopback names, "
            "--http-host, and the names --http-allow-host lists"
        )
        response = web.Response(status=421, text=message + "\n")
        # gRPC-Web clients read the status from the headers of a trailers-only answer.
        response.headers["grpc-status"] = str(_PERMISSION_DENIED)
        response.headers["grpc-message"] = percent_encode(message)
        response.force_close()
        return response

    return guard


async def _revalidate_static(request: web.Request, response: web.StreamResponse) -> None:
    """The bundle's names carry no version: browsers must revalidate it after an upgrade."""
    if request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"


def _cors(app: web.Application, allowed_origin: str) -> None:
    """Answer preflights and mark responses for the one allowed origin; nothing otherwise.

    Headers are added as each response is prepared, so streamed replies get them too.
    """

    def allowed(request: web.Request) -> str:
        """The request's Origin if it is the allowed one (scheme and host are case-blind)."""
        origin = request.headers.get("Origin", "")
        return origin if allowed_origin and origin.lower() == allowed_origin.lower() else ""

    async def preflight(request: web.Request) -> web.Response:
        origin = allowed(request)
        if not origin:
            raise web.HTTPForbidden(text="origin not allowed (--http-allow-origin)\n")
        return web.Response(
            status=204,
            headers={
                "Access-Control-Allow-Methods": "POST",
                "Access-Control-Allow-Headers": _ALLOWED_REQUEST_HEADERS,
                "Access-Control-Max-Age": "600",
            },
        )

    async def mark(request: web.Request, response: web.StreamResponse) -> None:
        origin = allowed(request)
        if origin:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
            response.headers["Vary"] = "Origin"

    app.router.add_route("OPTIONS", "/{path:.*}", preflight)
    app.on_response_prepare.append(mark)


class HttpServer:
    """The running HTTP port; ``start`` binds it, ``stop`` ends calls within the grace."""

    def __init__(self, app: web.Application, *, grace: float) -> None:
        # handler_cancellation: a browser that goes away cancels its watch at once.
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=grace
        )
        self.port = 0

    async def start(self, host: str, port: int, *, ssl_context: ssl.SSLContext | None) -> int:
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, ssl_context=ssl_context)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self.port

    async def stop(self) -> None:
        await self._runner.cleanup()
