"""The limits table of docs/operations.md, generated from ``config`` so it cannot drift.

Every flag that bounds what a client may send or hold (``config.OPTIONS``) and every fixed
bound admission enforces, with its default and what a client gets past it. A test checks
that the doc holds exactly this table; ``python -m execstream_server.limits_doc --write
docs/operations.md`` rewrites it in place (between the ``limits-table`` markers).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from execstream_server.config import (
    ACK_TASK_BYTES_BESIDE_ID,
    MAX_BACKEND_LENGTH,
    MAX_ERROR_ACK_BYTES,
    MAX_EVENT_BYTES_CEILING,
    MAX_TOKENS,
    MAX_USD_PER_MTOK,
    OPTIONS,
    SNAPSHOT_MARGIN_BYTES,
    Limits,
    Option,
    ServerConfig,
)

BEGIN = "<!-- limits-table:begin (generated: python -m execstream_server.limits_doc) -->"
END = "<!-- limits-table:end -->"
_FIELD = "INVALID_ARGUMENT `INVALID_FIELD` naming"
_LIMITS = Limits()

# What a client gets past each flag's bound (every limit flag must be here; a test checks).
FLAG_REFUSALS: dict[str, str] = {
    "--max-id-length": f"{_FIELD} `events[i].task_id` / `sidecar_id`, with `limit`",
    "--max-text-bytes": f"{_FIELD} the text field (`events[i].stdout.text`, ...), with `limit`",
    "--max-event-bytes": f"{_FIELD} `events[i]`, with `limit` (unknown fields are dropped first;"
    f" the flag's ceiling is {MAX_EVENT_BYTES_CEILING} so every watcher with gRPC's default"
    " 4 MiB receive limit can read every event)",
    "--max-events-per-report": f"{_FIELD} `events`, with `limit`",
    "--max-tasks-per-stream": "RESOURCE_EXHAUSTED `LIMIT_EXCEEDED` (`limit` names the flag,"
    " `value` the bound) for the report that would pass it, before anything of it is"
    " stored: send it on a new stream. With long task ids and a small"
    " `--max-message-bytes` the bound is lower, so the answer always fits in a message"
    f" (each task takes its id plus {ACK_TASK_BYTES_BESIDE_ID} bytes); at the default, the"
    " answer fits gRPC's default 4 MiB receive limit",
    "--max-message-bytes": "RESOURCE_EXHAUSTED from gRPC itself (no ErrorInfo); watch responses"
    " stay below it",
    "--output-tail-bytes": "nothing: a snapshot keeps the last bytes and sets"
    " `output_tail_truncated`",
    "--intake-max-events": "nothing refused: the server stops reading ReportProgress streams "
    "until commits catch up, so sidecars' writes wait (a report larger than the bound goes "
    "alone)",
    "--max-page-size": f"{_FIELD} `page_size`, with `limit`",
    "--max-totals-models": "nothing: the costliest pairs (then most tokens, most tasks) keep"
    " their rows, within a quarter of `--max-message-bytes`; the rest are summed in one"
    " `other` row whose `folded_models` counts them",
    "--max-totals-labels": "nothing: the costliest values (finished plus running, then most"
    " tokens, most tasks) keep their rows, within what the rest of the totals leave of a"
    " quarter of `--max-message-bytes`; the rest are summed in one `other` row whose"
    " `folded_values` counts them",
    "--watch-queue-bytes": "nothing: the watcher catches up from the log, then goes live again",
    "--watch-total-bytes": "nothing: a catch-up waits until other watchers' pages are written"
    " (live watchers never wait)",
    "--watch-write-timeout": "RESOURCE_EXHAUSTED `WATCHER_TOO_SLOW` with `resume_revision`",
    "--max-watchers": "RESOURCE_EXHAUSTED `LIMIT_EXCEEDED` with RetryInfo",
    "--max-streams-per-client": "RESOURCE_EXHAUSTED `LIMIT_EXCEEDED` (per token with auth, else"
    " per peer address)",
    "--sidecar-events-per-second": "RESOURCE_EXHAUSTED `RATE_LIMITED` with RetryInfo; every event"
    " counts, per sidecar and per token; a report that finishes a task may borrow one burst",
    "--sidecar-burst-events": "as above: the bucket's size, and the most a finishing report may"
    " borrow beyond an empty bucket",
    "--max-model-labels": "nothing: further model names are exported as `other` and counted in"
    " `execstream_metric_label_overflow_total`",
    "--max-backend-labels": "nothing: further backend names are exported as `other` and counted"
    " in `execstream_metric_label_overflow_total`",
    "--max-model-series": "nothing: further pairs are exported with the model `other` (one"
    " such series per backend) and counted in `execstream_metric_label_overflow_total`"
    ' (`label="model"`)',
    "--max-label-values": "nothing: further values of that task label are exported as `other`"
    " and counted in `execstream_metric_label_overflow_total`",
    "--max-label-series": "nothing: further combinations of task label values are exported"
    " with every task label `other` (one such series per backend and model) and counted in"
    " `execstream_metric_label_overflow_total` under each key",
    "--retain-events": "OUT_OF_RANGE `REVISION_COMPACTED` with `oldest_revision` for a watch"
    " from before it",
}
_LIMIT_TARGETS = {
    "retention",
    "max_model_labels",
    "max_backend_labels",
    "max_model_series",
    "max_label_values",
    "max_label_series",
}

# Bounds without a flag: (what, value, what a client gets past it).
FIXED_BOUNDS: tuple[tuple[str, str, str], ...] = (
    (
        "tokens in one `Usage` field",
        f"{MAX_TOKENS} (2^40)",
        f"{_FIELD} the field (`events[i].finished.usage.input_tokens`), with `limit`",
    ),
    (
        "tokens of one task, all buckets and attempts",
        f"{MAX_TOKENS} (2^40)",
        f"{_FIELD} the `usage` that would pass it, with `limit`",
    ),
    (
        "`Usage` field 9 (the retired `cache_write_1h_tokens`)",
        "must be unset",
        f"{_FIELD} `...usage.cache_write_one_hour_tokens`",
    ),
    (
        "event `time`",
        "0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999999Z",
        f"{_FIELD} `events[i].time.seconds` or `.nanos`",
    ),
    ("`seq`", "from 1, contiguous per task", f"{_FIELD} `events[i].seq` (0); a gap: `SEQ_GAP`"),
    (
        "`backend` (Started, Usage)",
        f"1-{MAX_BACKEND_LENGTH} characters of [a-z0-9._-]",
        f"{_FIELD} the field",
    ),
    (
        "labels per task (a later `started` with labels replaces them)",
        str(_LIMITS.max_labels),
        f"{_FIELD} `events[i].started.labels`, with `limit`",
    ),
    (
        "label key / value",
        f"{_LIMITS.max_label_key_length} / {_LIMITS.max_label_value_length} characters",
        f"{_FIELD} the label (`events[i].started.labels[KEY]`), with `limit`",
    ),
    ("model, error code and tool names", f"{_LIMITS.max_name_length} bytes", f"{_FIELD} the field"),
    (
        "descriptions and tool summaries",
        f"{_LIMITS.max_summary_length} bytes",
        f"{_FIELD} the field",
    ),
    (
        "ids in a watch or snapshot filter",
        str(_LIMITS.max_filter_ids),
        f"{_FIELD} `task_ids` / `sidecar_ids`, with `limit` (or the bad id, `task_ids[i]`)",
    ),
    (
        "enum values (status, outcome, kinds and statuses filters)",
        "known, non-zero values",
        f"{_FIELD} the field (`statuses[0]`, ...)",
    ),
    (
        "committed seqs in a refused ReportProgress stream's error",
        f"{MAX_ERROR_ACK_BYTES} bytes",
        "nothing: the refused report's tasks are listed first, then others that fit (the"
        " status trailer must stay within what gRPC clients accept); read the rest from"
        " GetSnapshot",
    ),
    (
        "bytes per GetSnapshot page",
        f"`--max-message-bytes` minus the page's totals and {SNAPSHOT_MARGIN_BYTES}",
        "nothing: the page ends early, with `next_page_token`, before the task that would"
        " pass it (a page holds at least one task)",
    ),
    (
        "events / bytes per watch response",
        f"{_LIMITS.watch_max_events_per_response} / {_LIMITS.watch_max_bytes_per_response}",
        "nothing: larger batches are split across responses",
    ),
    (
        "price table rates",
        f"0 .. {MAX_USD_PER_MTOK} USD per million tokens",
        "the server does not start: exit 2, one line naming the key",
    ),
    (
        "snapshot totals over all tasks",
        "int64 / uint64",
        "nothing: a total past its field's width shows the largest value (one WARNING line)",
    ),
)


def limit_options() -> list[Option]:
    """The options that bound what a client may send or hold."""
    return [o for o in OPTIONS if o.target.startswith("limits.") or o.target in _LIMIT_TARGETS]


def _default(option: Option) -> str:
    holder: object = _LIMITS if option.target.startswith("limits.") else ServerConfig()
    value = getattr(holder, option.target.removeprefix("limits."))
    if option.target == "retention":
        return "keep all"
    if option.target.endswith("_s"):
        return f"{value:g} s"
    return f"{value:g}" if isinstance(value, float) else str(value)


def render() -> str:
    """The table, between its markers."""
    rows = [
        BEGIN,
        "| bound | flag (environment) | default | past it, a client gets |",
        "|---|---|---|---|",
    ]
    for option in limit_options():
        rows.append(
            f"| {option.help} | `{option.flag}` (`{option.env}`) | `{_default(option)}` "
            f"| {FLAG_REFUSALS[option.flag]} |"
        )
    for what, value, refusal in FIXED_BOUNDS:
        rows.append(f"| {what} | fixed | {value} | {refusal} |")
    rows.append(END)
    return "\n".join(rows)


def current(text: str) -> str | None:
    """The table a document holds now, or None."""
    found = re.search(re.escape(BEGIN) + r".*?" + re.escape(END), text, re.S)
    return found.group(0) if found else None


def main() -> None:
    parser = argparse.ArgumentParser(description="Print (or --write into a doc) the limits table.")
    parser.add_argument("--write", metavar="DOC", help="replace the table in this document")
    args = parser.parse_args()
    if not args.write:
        print(render())
        return
    path = Path(args.write)
    text = path.read_text()
    old = current(text)
    if old is None:
        raise SystemExit(f"{path}: no {BEGIN!r} marker")
    path.write_text(text.replace(old, render()))


if __name__ == "__main__":
    main()
