"""Where the server is and how to talk to it: one place for target, token and TLS.

Every client flavour (sync, asyncio, the CLI) builds its channels here so that an auth or TLS
option given once reaches every call, including the snapshot a reporter takes to resync.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import grpc
import grpc.aio

from .service_config import service_config_json

DEFAULT_TARGET = "127.0.0.1:50051"

# Keepalive pings notice a dead server behind a silent network path (a watcher could otherwise
# wait forever on a half-open connection); 20 s stays above the server's minimum ping interval.
_CHANNEL_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 0),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
)


@dataclasses.dataclass(frozen=True, slots=True)
class ConnectOptions:
    """How to reach one execstream server (or a load balancer in front of replicas)."""

    target: str = DEFAULT_TARGET
    token: str = ""
    tls: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    server_name: str = ""

    def __post_init__(self) -> None:
        if self.ca_file or self.cert_file:  # a CA or a client certificate only means TLS
            object.__setattr__(self, "tls", True)

    @classmethod
    def from_env(cls, **overrides: str | bool | None) -> ConnectOptions:
        """Read ``EXECSTREAM_TARGET``/``_TOKEN``/``_CA``/``_CERT``/``_KEY``, then apply overrides.

        TLS is on when any TLS file is given or ``EXECSTREAM_TLS=1``.
        """
        env = os.environ
        values: dict[str, str | bool] = {
            "target": env.get("EXECSTREAM_TARGET", DEFAULT_TARGET),
            "token": env.get("EXECSTREAM_TOKEN", ""),
            "ca_file": env.get("EXECSTREAM_CA", ""),
            "cert_file": env.get("EXECSTREAM_CERT", ""),
            "key_file": env.get("EXECSTREAM_KEY", ""),
            "server_name": env.get("EXECSTREAM_SERVER_NAME", ""),
            "tls": env.get("EXECSTREAM_TLS", "") in ("1", "true", "yes"),
        }
        values.update({k: v for k, v in overrides.items() if v not in ("", None)})
        return cls(**values)  # type: ignore[arg-type]

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),) if self.token else ()

    def _credentials(self) -> grpc.ChannelCredentials:
        def read(path: str) -> bytes | None:
            return Path(path).read_bytes() if path else None

        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("cert_file and key_file go together (client certificate for mTLS)")
        return grpc.ssl_channel_credentials(
            root_certificates=read(self.ca_file),
            private_key=read(self.key_file),
            certificate_chain=read(self.cert_file),
        )

    def _options(self) -> list[tuple[str, int | str]]:
        # The shared service config gives each method its deadline; its retry table is
        # applied by the client's own loops (a snapshot page, a watch, a reporter), so
        # gRPC's retries stay off: a call is never retried twice over, and a single report
        # is one call, as in every execstream client.
        options: list[tuple[str, int | str]] = [
            *_CHANNEL_OPTIONS,
            ("grpc.enable_retries", 0),
            ("grpc.service_config", service_config_json()),
        ]
        if self.server_name:
            options.append(("grpc.ssl_target_name_override", self.server_name))
        return options

    def channel(self, *, own_connection: bool = False) -> grpc.Channel:
        """A blocking channel (the caller closes it).

        gRPC shares connections between channels to the same target; ``own_connection``
        opens one for this channel alone, for a call that must not wait behind a stuck one.
        """
        options = self._options()
        if own_connection:
            options.append(("grpc.use_local_subchannel_pool", 1))
        if self.tls:
            return grpc.secure_channel(self.target, self._credentials(), options)
        return grpc.insecure_channel(self.target, options)

    def aio_channel(self) -> grpc.aio.Channel:
        """An asyncio channel, bound to the running loop (the caller closes it)."""
        if self.tls:
            return grpc.aio.secure_channel(self.target, self._credentials(), self._options())
        return grpc.aio.insecure_channel(self.target, self._options())
