"""``execstream run-llm``: a sidecar for one chat completion, tokens reported as they stream.

As with ``run``, the task's ``started`` event is committed before the model is called: an
unreachable server or a task id that is taken costs no tokens.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid

from rich.markup import escape

from ..adapters import BACKENDS, prompt_request, run_llm, started_fields
from ..client import AsyncClient, ConnectOptions
from .connect import add_connection_args, options_from
from .consoles import stderr_console
from .errors import one_line
from .first_event import FirstEvent, commit_first_event, started_event
from .readiness import add_wait_arg, reconnecting, wait_until_ready
from .run import default_sidecar, parse_labels
from .words import count


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "run-llm",
        help="stream a chat completion from Ollama or an OpenAI-compatible server as a task",
        description="Run one prompt as a task: tokens stream to execstream, usage is priced. "
        "The task's first event is committed before the model is called.",
    )
    parser.add_argument("--task", metavar="ID", help="task id (default: llm-<random>, unique)")
    parser.add_argument(
        "--sidecar",
        metavar="ID",
        default=default_sidecar(),
        help="sidecar id (env EXECSTREAM_SIDECAR; default cli-<hostname>)",
    )
    parser.add_argument("--backend", choices=("ollama", "openai"), required=True)
    parser.add_argument(
        "--model", metavar="NAME", required=True, help="model name as the backend knows it"
    )
    parser.add_argument(
        "--prompt", metavar="TEXT", required=True, help="the user prompt ('-' reads stdin)"
    )
    parser.add_argument("--system", metavar="TEXT", default="", help="an optional system prompt")
    parser.add_argument(
        "--base-url",
        metavar="URL",
        default="",
        help="backend URL (default: Ollama http://127.0.0.1:11434, OpenAI https://api.openai.com)",
    )
    parser.add_argument(
        "--label", action="append", default=[], metavar="KEY=VALUE", help="task label (repeatable)"
    )
    parser.add_argument("--quiet", action="store_true", help="do not echo the answer")
    add_wait_arg(parser)
    add_connection_args(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    backend = BACKENDS[args.backend]
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    api_key = os.environ.get(backend.api_key_env, "") if backend.api_key_env else ""
    request = prompt_request(
        model=args.model,
        prompt=prompt,
        system=args.system,
        base_url=args.base_url or backend.default_base_url,
        api_key=api_key,
    )
    labels = parse_labels(args.label)
    task_id = args.task or f"llm-{uuid.uuid4().hex[:12]}"
    err = stderr_console()
    options = options_from(args)
    wait_until_ready(options, args.wait, err)
    first = started_event(task_id, args.sidecar, labels=labels, **started_fields(backend, request))
    hint = "the model was not called; use a fresh --task id (or leave --task out)"
    fields = {"task_id": "--task", "sidecar_id": "--sidecar"}
    commit_first_event(FirstEvent(options, args.wait, err, hint, fields), first)
    if not args.task:
        err.print(f"[dim]task {task_id}[/]")

    def echo(text: str) -> None:
        if not args.quiet:
            sys.stdout.write(text)
            sys.stdout.flush()

    async def main(options: ConnectOptions) -> int:
        backoff = reconnecting(options, args.wait, err)
        async with (
            AsyncClient(options) as client,
            client.reporter(args.sidecar, backoff=backoff) as reporter,
        ):
            task = reporter.task(task_id, next_seq=2)
            result = await run_llm(task, backend, request, on_text=echo, report_started=False)
        if not args.quiet:
            print()
        if not result.succeeded:
            attempts = count(result.attempts, "attempt")
            err.print(f"[bold red]error:[/] {escape(one_line(result.error))} (after {attempts})")
            return 1
        return 0

    return asyncio.run(main(options))
