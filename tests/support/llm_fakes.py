"""Small local HTTP servers that speak Ollama's and OpenAI's streaming chat wire formats.

A ``FakeLlmServer`` listens on a free 127.0.0.1 port in a thread and answers each POST with
the next scripted ``Reply``: a streamed body (chunked transfer encoding, one piece per chunk,
flushed as it goes), an error status, or a stream cut off mid-way. It records every request
so tests can check what the adapter sent. No model, no network beyond loopback.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclasses.dataclass
class Reply:
    """One scripted answer. ``pieces`` are written as they are, one HTTP chunk each."""

    pieces: Sequence[str] = ()
    status: int = 200
    content_type: str = "application/x-ndjson"
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    # Close the connection after this many pieces without ending the chunked body.
    cut_after: int | None = None
    # Stop after this many pieces until ``release`` is set (to watch tokens arrive live).
    hold_after: int | None = None
    release: threading.Event = dataclasses.field(default_factory=threading.Event)


@dataclasses.dataclass(frozen=True)
class SeenRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class FakeLlmServer:
    def __init__(self, replies: Sequence[Reply]) -> None:
        self.replies = list(replies)
        self.requests: list[SeenRequest] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def next_reply(self, seen: SeenRequest) -> Reply:
        with self._lock:
            self.requests.append(seen)
            if not self.replies:
                return Reply(pieces=['{"error": "no more scripted replies"}'], status=500)
            return self.replies.pop(0)

    def __enter__(self) -> FakeLlmServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for reply in self.replies:
            reply.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(10)


def _handler_for(server: FakeLlmServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            headers = {key.lower(): value for key, value in self.headers.items()}
            reply = server.next_reply(SeenRequest(self.path, headers, body))
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Transfer-Encoding", "chunked")
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.end_headers()
            for index, piece in enumerate(reply.pieces):
                if reply.cut_after is not None and index >= reply.cut_after:
                    self.close_connection = True
                    return
                if reply.hold_after is not None and index == reply.hold_after:
                    reply.release.wait(30)
                data = piece.encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

    return Handler


# --- Ollama: /api/chat, one JSON object per line -------------------------------------------


def ollama_lines(
    texts: Sequence[str],
    *,
    model: str = "llama3.2:3b",
    prompt_eval_count: int | None = 26,
    eval_count: int | None = 298,
    done_reason: str = "stop",
) -> list[str]:
    """The lines of a successful Ollama chat stream; a ``None`` count is left out."""
    lines = [json.dumps(_ollama_message(model, text, done=False)) + "\n" for text in texts]
    final = _ollama_message(model, "", done=True) | {
        "done_reason": done_reason,
        "total_duration": 4883583458,
        "load_duration": 1334875,
        "prompt_eval_duration": 342546000,
        "eval_duration": 4535599000,
    }
    if prompt_eval_count is not None:
        final["prompt_eval_count"] = prompt_eval_count
    if eval_count is not None:
        final["eval_count"] = eval_count
    return [*lines, json.dumps(final) + "\n"]


def _ollama_message(model: str, text: str, *, done: bool) -> dict[str, Any]:
    return {
        "model": model,
        "created_at": "2026-11-25T06:00:00.000000Z",
        "message": {"role": "assistant", "content": text},
        "done": done,
    }


def ollama_reply(texts: Sequence[str], **counts: Any) -> Reply:
    return Reply(pieces=ollama_lines(texts, **counts))


def ollama_error(status: int, message: str) -> Reply:
    return Reply(pieces=[json.dumps({"error": message})], status=status)


# --- OpenAI-compatible: /v1/chat/completions, server-sent events --------------------------


def openai_usage(
    prompt: int, completion: int, *, cached: int = 0, reasoning: int = 0
) -> dict[str, Any]:
    """A usage object as OpenAI sends it: ``prompt_tokens`` includes the cached ones."""
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0},
    }


def openai_events(
    texts: Sequence[str],
    *,
    model: str = "gpt-4o-mini",
    usage: dict[str, Any] | None = None,
    finish_reason: str = "stop",
    done: bool = True,
) -> list[str]:
    """SSE events of a chat completion stream: role, deltas, finish, usage chunk, [DONE]."""
    chunks = [_openai_chunk(model, {"role": "assistant", "content": ""}, None)]
    chunks += [_openai_chunk(model, {"content": text}, None) for text in texts]
    chunks.append(_openai_chunk(model, {}, finish_reason))
    if usage is not None:
        chunks.append(_openai_chunk(model, None, None) | {"choices": [], "usage": usage})
    events = [f"data: {json.dumps(chunk)}\n\n" for chunk in chunks]
    return [*events, "data: [DONE]\n\n"] if done else events


def _openai_chunk(
    model: str, delta: dict[str, Any] | None, finish_reason: str | None
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1764050400,
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        "usage": None,
    }


def openai_reply(texts: Sequence[str], **kwargs: Any) -> Reply:
    return Reply(pieces=openai_events(texts, **kwargs), content_type="text/event-stream")


def openai_error(status: int, message: str, *, kind: str = "server_error") -> Reply:
    body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return Reply(pieces=[json.dumps(body)], status=status, content_type="application/json")
