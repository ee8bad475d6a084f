"""``execstream dashboard``: the Grafana dashboard with a variable per task label key.

The shipped dashboard (deploy/grafana/dashboards/execstream.json) filters by backend and
model. A server started with --metric-label-keys team,project also labels its cost and
token metrics with those task labels; this command writes the dashboard with one variable
per key, every cost and token query filtered by it, and a "Spend by KEY in range" panel
per key. Give it the keys the server uses.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path
from typing import Any

from execstream_server.cli.failures import one_line_errors
from execstream_server.config import ConfigError, parse_label_keys

DEFAULT_SOURCE = Path("deploy/grafana/dashboards/execstream.json")
# The metrics that carry task label keys (transport/metrics.py), with the shipped filter.
_SELECTOR = re.compile(
    r"\b(execstream_(?:cost_usd|reference_cost_usd|tokens|reasoning_tokens|unpriced_tokens"
    r"|tasks_finished)_total|execstream_running_cost_usd)"
    r'\{backend=~"\$backend", model=~"\$model"'
)
_SPEND_BY_MODEL = "Spend by model in range"


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "dashboard",
        help="write the Grafana dashboard with a variable per task label key",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    parser.add_argument(
        "--label-keys",
        metavar="KEYS",
        default="",
        help="task label keys, comma-separated, as given to serve --metric-label-keys",
    )
    parser.add_argument(
        "--from",
        dest="source",
        metavar="FILE",
        type=Path,
        default=DEFAULT_SOURCE,
        help=f"the dashboard to start from (default: {DEFAULT_SOURCE}, from the repository)",
    )
    parser.set_defaults(func=run)


@one_line_errors
def run(args: argparse.Namespace) -> int:
    try:
        keys = parse_label_keys(args.label_keys)
    except ValueError as exc:
        raise ConfigError(f"--label-keys: {exc}") from None
    try:
        board = json.loads(args.source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"--from {args.source}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--from {args.source}: not JSON: {exc}") from None
    json.dump(with_label_keys(board, keys), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def with_label_keys(board: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """A copy of ``board`` with a variable, a filter and a spend panel per label key."""
    board = copy.deepcopy(board)
    if not keys:
        return board
    variables = board["templating"]["list"]
    model = next(i for i, v in enumerate(variables) if v["name"] == "model")
    variables[model + 1 : model + 1] = [_variable(variables[model], key) for key in keys]
    matchers = "".join(f', {key}=~"${key}"' for key in keys)
    for panel in _panels(board):
        for target in panel.get("targets", []):
            target["expr"] = _SELECTOR.sub(lambda m: m.group(0) + matchers, target["expr"])
    _add_breakdowns(board, keys)
    return board


def _variable(model: dict[str, Any], key: str) -> dict[str, Any]:
    definition = f'label_values(execstream_cost_usd_total{{backend=~"$backend"}}, {key})'
    variable = copy.deepcopy(model)
    variable.update(name=key, label=key, definition=definition)
    variable["query"] = {"query": definition, "refId": f"{key}-var"}
    return variable


def _panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in board["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def _add_breakdowns(board: dict[str, Any], keys: tuple[str, ...]) -> None:
    """A row of "Spend by KEY in range" bar gauges, built on the spend-by-model one."""
    template = next(p for p in _panels(board) if p["title"] == _SPEND_BY_MODEL)
    bottom = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in board["panels"])
    next_id = max(p["id"] for p in _panels(board)) + 1
    row = {
        "id": next_id,
        "type": "row",
        "title": "By task label",
        "collapsed": False,
        "gridPos": {"h": 1, "w": 24, "x": 0, "y": bottom},
        "panels": [],
    }
    board["panels"].append(row)
    for i, key in enumerate(keys):
        panel = copy.deepcopy(template)
        panel["id"] = next_id + 1 + i
        panel["title"] = f"Spend by {key} in range"
        panel["description"] = panel["description"].replace(
            "per backend and model", f"per value of the task label {key!r}"
        )
        panel["gridPos"] = {"h": 8, "w": 12, "x": 12 * (i % 2), "y": bottom + 1 + 8 * (i // 2)}
        [target] = panel["targets"]
        target["expr"] = (
            target["expr"]
            .replace("label_replace(sum by (backend, model) (", f"label_replace(sum by ({key}) (")
            .replace('"model", "(no model)", "model", "")', f'"{key}", "(none)", "{key}", "")')
        )
        target["legendFormat"] = f"{{{{{key}}}}}"
        board["panels"].append(panel)
