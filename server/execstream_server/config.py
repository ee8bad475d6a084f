"""Server configuration: one frozen dataclass, built from flags and ``EXECSTREAM_*`` variables.

Every limit lives here, once, with its default; flags override environment variables,
which override the defaults. Bad values fail at start with a one-line message naming the
flag (``ConfigError``), never at the first request.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


class ConfigError(Exception):
    """A configuration value is invalid; the message names the flag and the problem."""


# Fixed bounds (not flags): they keep every exact integer sum of an accepted event inside
# the int64/uint64 fields it lands in (docs/operations.md, "Numeric bounds").
# Tokens in any one Usage field, and in one task over all its buckets and attempts.
MAX_TOKENS = 2**40
# The largest price a price table may give, in USD per million tokens.
MAX_USD_PER_MTOK = 4000
# So a task's cost, actual or reference, stays within 2**62 nano-USD:
# MAX_TOKENS * MAX_USD_PER_MTOK * 1000 nano-USD per token = 4.4e18 < 2**62 = 4.6e18.
MAX_TASK_COST_NANOS = 2**62
# Budgets in a --budgets file, at most (each is checked against every changed task).
MAX_BUDGETS = 1000
# Event times between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999999Z (RFC 3339).
MIN_TIMESTAMP_SECONDS = -62_135_596_800
MAX_TIMESTAMP_SECONDS = 253_402_300_799
# Backend names (Started.backend, Usage.backend): also metric label values.
MAX_BACKEND_LENGTH = 64
# The largest --max-event-bytes: every watcher with gRPC's default 4 MiB receive limit
# must be able to read every stored event in a response of its own.
MAX_EVENT_BYTES_CEILING = 3 * 1024 * 1024
# A snapshot page is filled with tasks up to --max-message-bytes minus its totals and this
# margin, which holds the rest of the Snapshot message (revisions, log id, page token).
SNAPSHOT_MARGIN_BYTES = 4096
# A ReportProgressResponse: its counters take at most this many bytes, and each task it
# acknowledges its id plus at most this many (tags, lengths, the seq).
ACK_FIXED_BYTES = 64
ACK_TASK_BYTES_BESIDE_ID = 16
# The ReportProgressResponse a refused stream's error carries travels in the status
# trailer, which gRPC clients cap (8 KiB soft, 16 KiB hard by default): it lists the
# refused report's tasks first, then others, within this many bytes.
MAX_ERROR_ACK_BYTES = 3 * 1024
# TCP ports are 16-bit: a larger number would silently wrap (70000 listens on 4464).
MAX_PORT = 65535


@dataclass(frozen=True, kw_only=True)
class Retention:
    """Compact events beyond ``max_events`` (newest kept) or older than ``max_age_s``."""

    max_events: int | None = None
    max_age_s: float | None = None


@dataclass(frozen=True, kw_only=True)
class Limits:
    """Input and resource limits; each has a flag (see ``OPTIONS``) and docs/operations.md."""

    max_id_length: int = 128
    max_text_bytes: int = 64 * 1024
    max_event_bytes: int = 1024 * 1024
    max_events_per_report: int = 4096
    max_tasks_per_stream: int = 20000
    max_message_bytes: int = 8 * 1024 * 1024
    max_labels: int = 32
    max_label_key_length: int = 64
    max_label_value_length: int = 256
    max_name_length: int = 256
    max_summary_length: int = 1024
    max_filter_ids: int = 1000
    default_page_size: int = 1000
    max_page_size: int = 10000
    max_totals_models: int = 1000
    max_totals_labels: int = 1000
    output_tail_bytes: int = 4096
    watch_max_events_per_response: int = 1024
    watch_max_bytes_per_response: int = 1024 * 1024
    watch_queue_bytes: int = 8 * 1024 * 1024
    watch_total_bytes: int = 256 * 1024 * 1024
    watch_write_timeout_s: float = 5.0
    max_watchers: int = 10000
    max_streams_per_client: int = 256
    sidecar_events_per_second: float = 5000.0
    sidecar_burst_events: int = 20000
    intake_max_events: int = 4096

    @property
    def stream_task_limit(self) -> int:
        """Tasks one ReportProgress stream may touch: --max-tasks-per-stream, or fewer when
        an acknowledgement of that many tasks would not fit in --max-message-bytes."""
        entry = self.max_id_length + ACK_TASK_BYTES_BESIDE_ID
        fits = (self.max_message_bytes - ACK_FIXED_BYTES) // entry
        return max(1, min(self.max_tasks_per_stream, fits))


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 50051
    db: str = "execstream.db"
    store: str = ""
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9464
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    http_allow_origin: str = ""
    http_allow_hosts: tuple[str, ...] = ()
    heartbeat_interval_s: float = 10.0
    shutdown_grace_s: float = 5.0
    retention: Retention = field(default_factory=Retention)
    compact_interval_s: float = 30.0
    commit_max_events: int = 2048
    checkpoint_interval_s: float = 1.0
    pricing: str = ""
    budgets: str = ""
    max_model_labels: int = 200
    max_backend_labels: int = 50
    max_model_series: int = 500
    metric_label_keys: tuple[str, ...] = ()
    max_label_values: int = 100
    max_label_series: int = 1000
    auth_file: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    tls_client_ca: str = ""
    insecure: bool = False
    log_level: str = "info"
    limits: Limits = field(default_factory=Limits)


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(text: str) -> float:
    """Parse ``250ms``, ``10s``, ``5m``, ``24h``, ``7d`` or plain seconds."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration (e.g. 500ms, 10s, 5m, 24h)")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def parse_retention(text: str) -> Retention:
    """``0``/empty keeps everything; ``1000000`` keeps that many events; ``24h`` an age."""
    value = text.strip()
    if value in ("", "0"):
        return Retention()
    if value.isdigit():
        return Retention(max_events=int(value))
    return Retention(max_age_s=parse_duration(value))


_ORIGIN = re.compile(
    r"^https?://[A-Za-z0-9.\-]+(:\d{1,5})?$|^https?://\[[0-9A-Fa-f:.]+\](:\d{1,5})?$"
)


def parse_origin(text: str) -> str:
    """One web origin, ``scheme://host[:port]`` (no path, no wildcard), or empty for none."""
    value = text.strip().rstrip("/")
    if value and not _ORIGIN.match(value):
        raise ValueError(f"{text!r} is not an origin like https://dash.example.com:8443")
    return value


_LABEL = r"[a-z0-9_](?:[a-z0-9_\-]*[a-z0-9_])?"
_HOST_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")
_HOST_ENTRY = re.compile(r"^(?P<name>\[[0-9a-f:.]+\]|[^:\[\]]+)(:(?P<port>\d{1,5}))?$")


def parse_hosts(text: str) -> tuple[str, ...]:
    """Host names (``dash.example.com``, optionally ``:PORT``), comma-separated; lower-cased."""
    hosts: list[str] = []
    for raw in text.split(","):
        entry = raw.strip().lower().rstrip(".")
        if not entry:
            continue
        match = _HOST_ENTRY.match(entry)
        name = match.group("name") if match else ""
        if not match or not (name.startswith("[") or _HOST_NAME.match(name)):
            raise ValueError(
                f"{raw.strip()!r} is not a host name like dash.example.com or dash.example.com:443"
            )
        port = match.group("port")
        if port is not None and not 0 < int(port) < 65536:
            raise ValueError(f"{raw.strip()!r}: the port must be 1-65535")
        hosts.append(entry)
    return tuple(hosts)


# Label names the metrics already use, or Prometheus gives a meaning: a task label key may
# not take one of them.
RESERVED_LABEL_NAMES = frozenset(
    {
        "backend", "model", "type", "outcome", "status", "kind", "reason", "label",
        "budget", "scope", "period", "threshold", "version", "reference_model",
        "gen_ai_token_type", "instance", "job", "le", "quantile",
    }
)  # fmt: skip
MAX_METRIC_LABEL_KEYS = 8  # each key multiplies the cost metrics' series
_LABEL_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")


def parse_label_keys(text: str) -> tuple[str, ...]:
    """``team,project`` -> ("team", "project"): Prometheus label names, not reserved ones."""
    keys = tuple(key.strip() for key in text.split(",") if key.strip())
    if len(keys) > MAX_METRIC_LABEL_KEYS:
        raise ValueError(f"{len(keys)} keys; at most {MAX_METRIC_LABEL_KEYS}")
    for key in keys:
        if not _LABEL_NAME.match(key) or key.startswith("__") or key.startswith("grpc_"):
            raise ValueError(
                f"{key!r} cannot be a metric label: 1-64 characters from [a-z0-9_], not "
                "starting with a digit, __ or grpc_"
            )
        if key in RESERVED_LABEL_NAMES:
            raise ValueError(f"{key!r} is a label the metrics already use")
    if len(set(keys)) != len(keys):
        raise ValueError("a key is given twice")
    return keys


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{text!r} is not a boolean (true/false)")


@dataclass(frozen=True)
class Option:
    """One flag: where it lands (``target`` in ServerConfig or ``limits.NAME``) and its help."""

    flag: str
    target: str
    parse: Callable[[str], Any]
    help: str
    minimum: float | None = None
    maximum: float | None = None

    @property
    def env(self) -> str:
        return "EXECSTREAM_" + self.flag.lstrip("-").replace("-", "_").upper()


OPTIONS: tuple[Option, ...] = (
    Option(
        "--host", "host", str, "address to listen on (0.0.0.0 needs auth or TLS, or --insecure)"
    ),
    Option("--port", "port", int, "gRPC port (0 picks a free one)", 0, MAX_PORT),
    Option("--db", "db", str, "SQLite file for the embedded store (':memory:' for throwaway runs)"),
    Option(
        "--store",
        "store",
        str,
        "redis://HOST:PORT/DB (or rediss://) to share a log between replicas",
    ),
    Option("--metrics-host", "metrics_host", str, "address of the Prometheus /metrics endpoint"),
    Option(
        "--metrics-port", "metrics_port", int, "Prometheus /metrics port (0 disables)", 0, MAX_PORT
    ),
    Option(
        "--http-host",
        "http_host",
        str,
        "address of the web dashboard and gRPC-Web (same rules as --host)",
    ),
    Option(
        "--http-port",
        "http_port",
        int,
        "web dashboard and gRPC-Web port (0 disables)",
        0,
        MAX_PORT,
    ),
    Option(
        "--http-allow-origin",
        "http_allow_origin",
        parse_origin,
        "one other web origin (https://host:port) allowed to call gRPC-Web (CORS); default none",
    ),
    Option(
        "--http-allow-host",
        "http_allow_hosts",
        parse_hosts,
        "more Host names the HTTP port answers (a reverse proxy's public name), comma-separated; "
        "default: loopback names and --http-host only",
    ),
    Option(
        "--heartbeat-interval",
        "heartbeat_interval_s",
        parse_duration,
        "idle watch streams get a progress heartbeat this often",
        0.01,
    ),
    Option(
        "--shutdown-grace",
        "shutdown_grace_s",
        parse_duration,
        "time in-flight RPCs get to finish on SIGTERM",
        0,
    ),
    Option(
        "--retain-events",
        "retention",
        parse_retention,
        "compact events beyond a count (1000000) or age (24h); task state is kept; 0 keeps all",
    ),
    Option(
        "--compact-interval", "compact_interval_s", parse_duration, "how often to compact", 0.01
    ),
    Option("--commit-max-events", "commit_max_events", int, "events per group commit at most", 1),
    Option(
        "--checkpoint-interval",
        "checkpoint_interval_s",
        parse_duration,
        "how often task state is checkpointed (bounds restart replay)",
        0.001,
    ),
    Option("--pricing", "pricing", str, "price table TOML (default: the packaged table)"),
    Option("--budgets", "budgets", str, "budgets TOML (docs/budgets.md); none by default"),
    Option(
        "--max-model-labels",
        "max_model_labels",
        int,
        "distinct unknown model names exported as metric labels before 'other'",
        0,
    ),
    Option(
        "--max-backend-labels",
        "max_backend_labels",
        int,
        "distinct unknown backend names exported as metric labels before 'other'",
        0,
    ),
    Option(
        "--max-model-series",
        "max_model_series",
        int,
        "distinct unknown (backend, model) pairs exported as metric series before the "
        "model is 'other'",
        0,
    ),
    Option(
        "--metric-label-keys",
        "metric_label_keys",
        parse_label_keys,
        "task label keys (Started.labels) the cost and token metrics carry, comma-separated",
    ),
    Option(
        "--max-label-values",
        "max_label_values",
        int,
        "distinct values per --metric-label-keys key exported before 'other'",
        0,
    ),
    Option(
        "--max-label-series",
        "max_label_series",
        int,
        "distinct (backend, model, --metric-label-keys values) combinations exported before "
        "every task label of a series is 'other'",
        0,
    ),
    Option("--auth-file", "auth_file", str, "token file (execstream token create); enables auth"),
    Option("--tls-cert", "tls_cert", str, "PEM server certificate (enables TLS)"),
    Option("--tls-key", "tls_key", str, "PEM private key of --tls-cert"),
    Option(
        "--tls-client-ca", "tls_client_ca", str, "PEM CA bundle; require client certificates (mTLS)"
    ),
    Option("--insecure", "insecure", _bool, "allow a non-loopback address without auth or TLS"),
    Option("--log-level", "log_level", str, "debug, info, warning or error"),
    Option("--max-id-length", "limits.max_id_length", int, "task_id/sidecar_id length", 1),
    Option("--max-text-bytes", "limits.max_text_bytes", int, "UTF-8 bytes of text per event", 1),
    Option(
        "--max-event-bytes",
        "limits.max_event_bytes",
        int,
        "encoded bytes per event as stored (unknown fields dropped first)",
        1024,
        MAX_EVENT_BYTES_CEILING,
    ),
    Option(
        "--max-events-per-report",
        "limits.max_events_per_report",
        int,
        "events per ProgressReport",
        1,
    ),
    Option(
        "--max-tasks-per-stream",
        "limits.max_tasks_per_stream",
        int,
        "distinct tasks one ReportProgress stream may report (its acknowledgement lists "
        "each); fewer if their acknowledgement would pass --max-message-bytes",
        1,
    ),
    Option(
        "--max-message-bytes",
        "limits.max_message_bytes",
        int,
        "gRPC message size (both directions)",
        1024,
    ),
    Option(
        "--output-tail-bytes",
        "limits.output_tail_bytes",
        int,
        "bytes of recent output kept per task in snapshots",
        0,
    ),
    Option(
        "--max-page-size",
        "limits.max_page_size",
        int,
        "tasks per GetSnapshot page (also the default page when below 1000)",
        1,
    ),
    Option(
        "--intake-max-events",
        "limits.intake_max_events",
        int,
        "events read from ReportProgress streams and not yet committed, over all streams",
        1,
    ),
    Option(
        "--max-totals-models",
        "limits.max_totals_models",
        int,
        "(backend, model) rows in a snapshot's totals (by_model); the rest are summed in "
        "one 'other' row",
        0,
    ),
    Option(
        "--max-totals-labels",
        "limits.max_totals_labels",
        int,
        "label values in a snapshot's totals by label (by_label); the rest are summed in "
        "one 'other' row",
        0,
    ),
    Option(
        "--watch-queue-bytes",
        "limits.watch_queue_bytes",
        int,
        "bytes one watcher may hold: its live queue (past it, it catches up from the log) "
        "or a catch-up page of the log and its responses",
        1024,
    ),
    Option(
        "--watch-total-bytes",
        "limits.watch_total_bytes",
        int,
        "bytes all catching-up watchers may hold together; past it, catch-ups wait their turn",
        1024,
    ),
    Option(
        "--watch-write-timeout",
        "limits.watch_write_timeout_s",
        parse_duration,
        "a watcher that reads nothing this long is ended (RESOURCE_EXHAUSTED)",
        0.01,
    ),
    Option("--max-watchers", "limits.max_watchers", int, "concurrent WatchExecution streams", 1),
    Option(
        "--max-streams-per-client",
        "limits.max_streams_per_client",
        int,
        "concurrent streams per client (peer address or token)",
        1,
    ),
    Option(
        "--sidecar-events-per-second",
        "limits.sidecar_events_per_second",
        float,
        "sustained events per second per sidecar (token bucket; 0 disables)",
        0,
    ),
    Option(
        "--sidecar-burst-events",
        "limits.sidecar_burst_events",
        int,
        "token bucket size per sidecar",
        1,
    ),
)


# What --help shows for a flag's value, by how it is parsed; otherwise the flag's last word.
_METAVARS: dict[Callable[[str], Any], str] = {
    int: "N",
    float: "N",
    parse_duration: "DURATION",
    parse_retention: "N|AGE",
    parse_hosts: "HOST[:PORT],...",
}
_METAVAR_WORDS = {
    "DB": "PATH",
    "STORE": "URL",
    "PRICING": "FILE",
    "CERT": "FILE",
    "KEY": "FILE",
    "CA": "FILE",
}


def _metavar(option: Option) -> str:
    if option.parse in _METAVARS:
        return _METAVARS[option.parse]
    word = option.flag.rsplit("-", 1)[-1].upper()
    return _METAVAR_WORDS.get(word, word)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add every option as a flag whose default comes from its EXECSTREAM_* variable."""
    for option in OPTIONS:
        kwargs: dict[str, Any] = {
            "dest": option.target.replace(".", "__"),
            "default": None,
            "help": f"{option.help} [env {option.env}]",
        }
        if option.parse is _bool:
            kwargs["action"] = "store_const"
            kwargs["const"] = "true"
        else:
            kwargs["metavar"] = _metavar(option)
        parser.add_argument(option.flag, **kwargs)


def _parse_problem(option: Option, raw: str, exc: ValueError) -> str:
    """Why ``raw`` is not a value of ``option``, in words (not Python's ``invalid literal``)."""
    if option.parse is int:
        return f"{raw!r} is not a whole number"
    if option.parse is float:
        return f"{raw!r} is not a number"
    return str(exc)


def build_config(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> ServerConfig:
    """Merge flags over environment over defaults; raise ConfigError naming the flag."""
    env = os.environ if env is None else env
    top: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    for option in OPTIONS:
        raw = getattr(args, option.target.replace(".", "__"), None)
        source = option.flag
        if raw is None and option.env in env:
            raw, source = env[option.env], option.env
        if raw is None:
            continue
        try:
            value = option.parse(str(raw))
        except ValueError as exc:
            raise ConfigError(f"{source}: {_parse_problem(option, str(raw), exc)}") from exc
        if option.minimum is not None and value < option.minimum:
            raise ConfigError(f"{source}: {raw} is below the minimum {option.minimum:g}")
        if option.maximum is not None and value > option.maximum:
            raise ConfigError(f"{source}: {raw} is above the maximum {option.maximum:g}")
        if option.target.startswith("limits."):
            limits[option.target.removeprefix("limits.")] = value
        else:
            top[option.target] = value
    return ServerConfig(limits=Limits(**limits), **top)
