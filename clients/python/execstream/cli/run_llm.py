"""``execstream run-llm``: a sidecar for one chat completion, tokens reported as they stream."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid

from rich.console import Console

from ..client import AsyncClient, ConnectOptions
from .connect import add_connection_args, options_from
from .run import default_sidecar, parse_labels


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "run-llm",
        help="stream a chat completion from Ollama or an OpenAI-compatible server as a task",
        description="Run one prompt as a task: tokens stream to execstream, usage is priced.",
    )
    parser.add_argument("--task", help="task id (default: llm-<random>)")
    parser.add_argument(
        "--sidecar", default=default_sidecar(), help="sidecar id (env EXECSTREAM_SIDECAR)"
    )
    parser.add_argument("--backend", choices=("ollama", "openai"), required=True)
    parser.add_argument("--model", required=True, help="model name as the backend knows it")
    parser.add_argument("--prompt", required=True, help="the user prompt ('-' reads stdin)")
    parser.add_argument("--system", default="", help="an optional system prompt")
    parser.add_argument(
        "--base-url",
        default="",
        help="backend URL (default: Ollama http://127.0.0.1:11434, OpenAI https://api.openai.com)",
    )
    parser.add_argument(
        "--label", action="append", default=[], metavar="KEY=VALUE", help="task label (repeatable)"
    )
    parser.add_argument("--quiet", action="store_true", help="do not echo the answer")
    add_connection_args(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        from ..adapters import BACKENDS, prompt_request, run_llm
    except ImportError as exc:
        raise ValueError(
            f"run-llm needs the llm extra: pip install 'execstream[llm]' ({exc.name} is missing)"
        ) from None
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
    err = Console(stderr=True, soft_wrap=True, highlight=False)
    if not args.task:
        err.print(f"[dim]task {task_id}[/]")

    def echo(text: str) -> None:
        if not args.quiet:
            sys.stdout.write(text)
            sys.stdout.flush()

    async def main(options: ConnectOptions) -> int:
        async with AsyncClient(options) as client, client.reporter(args.sidecar) as reporter:
            task = reporter.task(task_id)
            task.default_labels.update(labels)
            result = await run_llm(task, backend, request, on_text=echo)
        if not args.quiet:
            print()
        if not result.succeeded:
            err.print(f"[bold red]error:[/] {result.error} (after {result.attempts} attempts)")
            return 1
        return 0

    return asyncio.run(main(options_from(args)))
