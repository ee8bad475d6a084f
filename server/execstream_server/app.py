"""Wiring: config -> pricing -> store -> engine -> servicer -> grpc.aio server, and shutdown.

Shutdown order: health reports NOT_SERVING (load balancers drain us), watchers get a last
progress heartbeat and end with UNAVAILABLE, in-flight RPCs get the grace period, then the engine
checkpoints and the store closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
from dataclasses import dataclass, field
from typing import Any

import grpc
from execstream import __version__
from execstream.v1 import events_pb2 as events_pb
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from execstream_server.config import ConfigError, ServerConfig
from execstream_server.domain.budget_book import BudgetBook
from execstream_server.domain.budget_recovery import write_missing_crossings
from execstream_server.domain.budget_watch import BudgetWatch
from execstream_server.domain.budgets import load_budgets
from execstream_server.domain.engine import Engine, EngineObserver
from execstream_server.domain.errors import RecoveryFailedError
from execstream_server.domain.pricing import PriceTable, load_price_table
from execstream_server.store.factory import display_url, open_store
from execstream_server.transport.access import AccessInterceptor
from execstream_server.transport.auth import TokenBook
from execstream_server.transport.grpc_metrics import MetricsInterceptor
from execstream_server.transport.http import HttpServer, build_application, tls_context
from execstream_server.transport.inprocess import MethodRouter
from execstream_server.transport.introspection import Health, add_reflection
from execstream_server.transport.metrics import MetricsHttpServer, ServerMetrics
from execstream_server.transport.ports import (
    SERVER_SOCKET_OPTIONS,
    listen_grpc,
    port_error,
)
from execstream_server.transport.servicer import SERVICE_NAME, ExecutionServicer, rpc_handlers

log = logging.getLogger("execstream")

# Keepalive and connection lifetime that common clients accept: pings allowed every 10 s
# without calls (the 5-minute default makes clients fail with too_many_pings); age alone
# never ends a long watch, the grace does, which keeps the clients' resume path exercised.
SERVER_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.max_connection_idle_ms", 300_000),
    ("grpc.max_connection_age_ms", 1_800_000),
    ("grpc.max_connection_age_grace_ms", 60_000),
    # BDP probing grows a stream's flow-control window while the connection looks fast, so a
    # sidecar could park a minute of events in buffers the handler has not read; at 64 KiB
    # per stream the intake budget (--intake-max-events) is what bounds unacknowledged work.
    ("grpc.http2.bdp_probe", 0),
)


def load_pricer(config: ServerConfig) -> PriceTable:
    """The price table the config names (the packaged default when none)."""
    return load_price_table(config.pricing or None)


@dataclass
class App:
    """A running execstream server; ``start`` then ``stop`` (or ``async with``)."""

    config: ServerConfig
    observers: list[EngineObserver] = field(default_factory=list)
    port: int = 0
    metrics_port: int = 0
    http_port: int = 0
    engine: Engine | None = None
    metrics: ServerMetrics | None = None
    health: Any = None
    _server: Any = None
    _servicer: ExecutionServicer | None = None
    _access: AccessInterceptor | None = None
    _metrics_http: MetricsHttpServer | None = None
    _http: HttpServer | None = None
    # Set when the engine can no longer serve (its log reader died); ``serve`` then stops.
    failed: asyncio.Event = field(default_factory=asyncio.Event)
    _health_updates: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        config = self.config
        check_exposure(config)
        pricer = load_pricer(config)
        book = BudgetBook(
            load_budgets(config.budgets, limits=config.limits) if config.budgets else ()
        )
        store = open_store(config, pricer)
        self.metrics = ServerMetrics(
            known_labels=pricer.known_labels(),
            pricing_version=pricer.version,
            reference_model=pricer.reference_model,
            known_backends=pricer.backends.keys(),
            max_model_labels=config.max_model_labels,
            max_backend_labels=config.max_backend_labels,
            max_model_series=config.max_model_series,
            seed_from_recovery=not store.shared,
            budgets=book,
            label_keys=config.metric_label_keys,
            max_label_values=config.max_label_values,
            max_label_series=config.max_label_series,
        )
        budgets = BudgetWatch(
            book, write=self._write_server_events, on_crossing=self.metrics.budgets.crossed
        )
        observers: list[EngineObserver] = [self.metrics, budgets, *self.observers]
        self.engine = Engine(store, config, observers=observers)
        await self.engine.start()
        engine = self.engine
        await write_missing_crossings(budgets, engine)
        engine.on_failure.append(self._engine_failed)
        self.metrics.watchers.set_function(lambda: engine.hub.watcher_count)
        failures = self.metrics.background_failures
        failures.labels("checkpoint").set_function(lambda: engine.checkpoints.failures)
        failures.labels("compaction").set_function(lambda: engine.compactions.failures)
        engine.hub.on_overflow = self.metrics.watch_overflows.inc
        limits = config.limits
        options = [
            *SERVER_OPTIONS,
            *SERVER_SOCKET_OPTIONS,
            ("grpc.max_receive_message_length", limits.max_message_bytes),
            ("grpc.max_send_message_length", limits.max_message_bytes),
        ]
        tokens = TokenBook.load(config.auth_file) if config.auth_file else None
        access = AccessInterceptor(
            tokens=tokens, max_streams_per_client=limits.max_streams_per_client
        )
        self._access = access
        interceptors = [MetricsInterceptor(self.metrics.grpc), access]
        server = grpc.aio.server(options=options, interceptors=interceptors)
        servicer = ExecutionServicer(
            self.engine, config, observer=self.metrics, budgets=budgets.snapshot
        )
        self._servicer = servicer
        handlers = (rpc_handlers(servicer),)
        server.add_generic_rpc_handlers(handlers)
        self.health = Health()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        add_reflection(server, (SERVICE_NAME, health.SERVICE_NAME))
        self._server = server  # from here on, a failure stops what started (the engine)
        try:
            await self._listen(server, MethodRouter(handlers, interceptors))
        except BaseException:
            await self.stop(0)
            raise

    def _write_server_events(self, events: list[events_pb.ExecutionEvent]) -> None:
        if self.engine is not None:
            self.engine.write_server_events(events)

    async def _listen(self, server: grpc.aio.Server, router: MethodRouter) -> None:
        """Take the ports and serve; a port that is taken is one line naming it."""
        config = self.config
        assert self.metrics is not None
        self.port = listen_grpc(server, config.host, config.port, server_credentials(config))
        await server.start()
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self.metrics.serving.set(1)
        if config.metrics_port:
            try:
                self._metrics_http = MetricsHttpServer(
                    self.metrics.registry, config.metrics_host, config.metrics_port
                )
            except OSError as exc:
                raise port_error(
                    "--metrics-port", config.metrics_host, config.metrics_port, exc
                ) from None
            self.metrics_port = self._metrics_http.port
        if config.http_port:
            await self._start_http(router)

    async def _start_http(self, router: MethodRouter) -> None:
        """The dashboard and gRPC-Web, through the same handlers and interceptors as gRPC."""
        config = self.config
        app = build_application(router, config, grpc_port=self.port)
        self._http = HttpServer(app, grace=config.shutdown_grace_s)
        try:
            self.http_port = await self._http.start(
                config.http_host, config.http_port, ssl_context=tls_context(config)
            )
        except OSError as exc:
            raise port_error("--http-port", config.http_host, config.http_port, exc) from None

    def reload_tokens(self) -> bool:
        """Re-read --auth-file (SIGHUP): later calls use it; a bad file keeps the old one."""
        if self._access is None or not self.config.auth_file:
            return False
        try:
            book = TokenBook.load(self.config.auth_file)
        except ConfigError as exc:
            log.warning("kept the previous tokens: %s", exc)
            return False
        self._access.tokens = book
        noun = "token" if len(book) == 1 else "tokens"
        log.info("reloaded %d %s from %s", len(book), noun, self.config.auth_file)
        return True

    def _engine_failed(self, exc: Exception) -> None:
        """Turn unhealthy at once (load balancers drain us), then let ``serve`` stop.

        Open watches end now with their resume revision (nothing after it will come).
        """
        if self.engine is not None:
            self.engine.hub.close()
        if self.metrics is not None:
            self.metrics.serving.set(0)
        if self.health is not None:
            for name in ("", SERVICE_NAME):
                task = asyncio.get_running_loop().create_task(
                    self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
                )
                self._health_updates.add(task)  # the loop keeps only weak references
                task.add_done_callback(self._health_updates.discard)
        self.failed.set()

    async def drain(self, grace: float) -> None:
        """The first half of a stop: NOT_SERVING, then every stream ends with SHUTTING_DOWN.

        Streams that arrive from now on are refused the same way (see transport.drain);
        what is still open after ``grace`` is left to gRPC, which cancels it.
        """
        if self.metrics is not None:
            self.metrics.serving.set(0)
        with contextlib.suppress(Exception):
            await self.health.enter_graceful_shutdown()
        if self.engine is not None:
            self.engine.hub.close()
        if self._servicer is not None and not await self._servicer.drain.start(grace):
            log.warning("%d streams still open after the grace", self._servicer.drain.open_streams)

    async def stop(self, grace: float | None = None) -> None:
        """Graceful stop; idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        grace = self.config.shutdown_grace_s if grace is None else grace
        loop = asyncio.get_running_loop()
        started = loop.time()
        await self.drain(grace)
        left = max(0.0, grace - (loop.time() - started))
        http, self._http = self._http, None
        await asyncio.gather(server.stop(left), http.stop() if http else asyncio.sleep(0))
        if self._servicer is not None:
            await self._servicer.close()
        if self.engine is not None:
            await self.engine.stop()
        if self._metrics_http is not None:
            self._metrics_http.close()
            self._metrics_http = None

    async def __aenter__(self) -> App:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def is_loopback(host: str) -> bool:
    """``localhost``, any 127.0.0.0/8 address, or ::1 (bracketed or not)."""
    name = host.strip().strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_exposure(config: ServerConfig) -> None:
    """Refuse to listen beyond loopback without auth and TLS, unless told --insecure.

    The rule holds for the gRPC port and for the HTTP port (dashboard and gRPC-Web) alike.
    The /metrics endpoint has neither auth nor TLS, and shows cost and usage by model:
    beyond loopback it needs --insecure too (when it is on at all).
    """
    if config.metrics_port and not is_loopback(config.metrics_host) and not config.insecure:
        raise ConfigError(
            f"--metrics-host {config.metrics_host}: refusing to serve /metrics beyond "
            "loopback: it has no auth or TLS and shows cost and usage by model; pass "
            "--insecure to accept that"
        )
    _check_host(config, config.host, "--host")
    if config.http_port:
        _check_host(config, config.http_host, "--http-host")


def _check_host(config: ServerConfig, host: str, flag: str) -> None:
    if is_loopback(host) or config.insecure:
        return
    if config.auth_file and config.tls_cert:
        return
    missing = " and ".join(
        name
        for name, present in (("--auth-file", config.auth_file), ("--tls-cert", config.tls_cert))
        if not present
    )
    raise ConfigError(
        f"{flag} {host}: refusing to listen beyond loopback without {missing}: anyone "
        "who can reach the port could read or write tasks (in clear); pass --insecure to "
        "accept that"
    )


def _read(path: str, flag: str) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as exc:
        raise ConfigError(f"{flag} {path}: {exc.strerror}") from exc


def server_credentials(config: ServerConfig) -> grpc.ServerCredentials | None:
    """TLS from PEM files; with --tls-client-ca, client certificates are required (mTLS)."""
    if not config.tls_cert and not config.tls_key:
        if config.tls_client_ca:
            raise ConfigError("--tls-client-ca needs --tls-cert and --tls-key")
        return None
    if not (config.tls_cert and config.tls_key):
        raise ConfigError("--tls-cert and --tls-key go together")
    pair = (_read(config.tls_key, "--tls-key"), _read(config.tls_cert, "--tls-cert"))
    client_ca = _read(config.tls_client_ca, "--tls-client-ca") if config.tls_client_ca else None
    return grpc.ssl_server_credentials(
        [pair], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


async def serve(config: ServerConfig) -> int:
    """Run until SIGINT or SIGTERM, then shut down gracefully; return the exit status.

    1 when the replica failed, while serving or while rebuilding its state at start (the
    engine logged the one ERROR line saying why), so a supervisor restarts it; 0 after a
    requested stop.
    """
    app = App(config)
    try:
        await app.start()
    except RecoveryFailedError:
        return 1  # the engine logged the one ERROR line saying why
    assert app.engine is not None
    metrics = (
        f"http://{config.metrics_host}:{app.metrics_port}/metrics" if app.metrics_port else "off"
    )
    security = (
        ", ".join(
            part
            for part, on in (
                ("tls", config.tls_cert),
                ("mtls", config.tls_client_ca),
                ("auth", config.auth_file),
            )
            if on
        )
        or "plaintext, no auth"
    )
    scheme = "https" if config.tls_cert else "http"
    dashboard = (
        f"{scheme}://{_bracket(config.http_host)}:{app.http_port}/" if app.http_port else "off"
    )
    log.info(
        "execstream %s listening on %s:%d (gRPC, %s) | dashboard %s | metrics %s | store %s at "
        "revision %d, %d %s",
        __version__,
        config.host,
        app.port,
        security,
        dashboard,
        metrics,
        display_url(config.store) if config.store else f"sqlite:{config.db}",
        app.engine.revision,
        len(app.engine.tasks),
        "task" if len(app.engine.tasks) == 1 else "tasks",
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, app.reload_tokens)
    try:
        stopping = asyncio.create_task(stop.wait())
        failing = asyncio.create_task(app.failed.wait())
        await asyncio.wait({stopping, failing}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        failing.cancel()
        if not app.failed.is_set():
            log.info("shutting down (grace %.1fs)", config.shutdown_grace_s)
    finally:
        await app.stop()
    log.info("stopped at revision %d", app.engine.revision)
    return 0 if app.engine.failure is None else 1
