"""Provider usage normalised into buckets that never overlap.

Providers count cached prompt tokens differently, and mixing their conventions is the usual
way cost tools double count (LiteLLM and Langfuse both shipped that bug):

- OpenAI-compatible: ``prompt_tokens`` INCLUDES ``prompt_tokens_details.cached_tokens``, so
  uncached input is the difference; ``completion_tokens_details.reasoning_tokens`` is a
  part of ``completion_tokens``, never added on top.
- Anthropic: ``input_tokens`` EXCLUDES ``cache_read_input_tokens`` and
  ``cache_creation_input_tokens``; cache writes are split by lifetime in
  ``cache_creation.ephemeral_5m_input_tokens`` / ``ephemeral_1h_input_tokens``.
- Ollama: ``prompt_eval_count`` is the prompt it evaluated and ``eval_count`` the output;
  it omits ``prompt_eval_count`` when the prompt came from its cache, so the count is
  estimated from the text and flagged, rather than reported as zero.

Every function here is pure; the result is a ``TokenUsage`` whose total prompt is
``input + cache_read + cache_write + cache_write_1h``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from execstream.v1 import events_pb2 as events_pb

# A rough, provider-neutral size of a token in characters of English text; only used where a
# provider gives no count, and the result is always flagged as estimated.
CHARS_PER_TOKEN = 4


@dataclasses.dataclass(frozen=True, slots=True)
class TokenUsage:
    """Token counts of one model call in non-overlapping buckets (see ``events_pb.Usage``)."""

    model: str = ""
    backend: str = ""
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_one_hour_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: bool = False

    @property
    def prompt_tokens(self) -> int:
        """The whole prompt, however much of it was cached."""
        return (
            self.input_tokens
            + self.cache_read_tokens
            + self.cache_write_tokens
            + self.cache_write_one_hour_tokens
        )

    def to_proto(self) -> events_pb.Usage:
        return events_pb.Usage(
            model=self.model,
            backend=self.backend,
            input_tokens=self.input_tokens,
            cache_read_tokens=self.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens,
            cache_write_one_hour_tokens=self.cache_write_one_hour_tokens,
            output_tokens=self.output_tokens,
            reasoning_tokens=self.reasoning_tokens,
            estimated=self.estimated,
        )


def estimate_tokens(text: str) -> int:
    """A token count for ``text`` when the provider gave none (rounded up, 0 for '')."""
    return -(-len(text) // CHARS_PER_TOKEN)


def _count(value: Any) -> int | None:
    """A provider's token count, or None when absent or not a non-negative integer."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _details(usage: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    details = usage.get(key)
    return details if isinstance(details, Mapping) else {}


def from_openai(usage: Mapping[str, Any], *, model: str, backend: str = "openai") -> TokenUsage:
    """Normalise an OpenAI-compatible ``usage`` object (chat completions, final chunk)."""
    prompt = _count(usage.get("prompt_tokens"))
    output = _count(usage.get("completion_tokens"))
    cached = _count(_details(usage, "prompt_tokens_details").get("cached_tokens")) or 0
    reasoning = _count(_details(usage, "completion_tokens_details").get("reasoning_tokens")) or 0
    prompt_total = prompt or 0
    # A server that reports more cached than prompt tokens is wrong; never go negative, and
    # never count more cached tokens than the prompt had.
    cached = min(cached, prompt_total)
    output_total = output or 0
    return TokenUsage(
        model=model,
        backend=backend,
        input_tokens=prompt_total - cached,
        cache_read_tokens=cached,
        output_tokens=output_total,
        reasoning_tokens=min(reasoning, output_total),
        estimated=prompt is None or output is None,
    )


def from_anthropic(
    usage: Mapping[str, Any], *, model: str, backend: str = "anthropic"
) -> TokenUsage:
    """Normalise an Anthropic Messages ``usage`` object; its input excludes the cache."""
    creation_total = _count(usage.get("cache_creation_input_tokens")) or 0
    by_ttl = _details(usage, "cache_creation")
    write_5m = _count(by_ttl.get("ephemeral_5m_input_tokens"))
    write_1h = _count(by_ttl.get("ephemeral_1h_input_tokens"))
    if write_5m is None and write_1h is None:
        # No split by lifetime: the default (5-minute) lifetime is what was billed.
        write_5m, write_1h = creation_total, 0
    input_tokens = _count(usage.get("input_tokens"))
    output = _count(usage.get("output_tokens"))
    return TokenUsage(
        model=model,
        backend=backend,
        input_tokens=input_tokens or 0,
        cache_read_tokens=_count(usage.get("cache_read_input_tokens")) or 0,
        cache_write_tokens=write_5m or 0,
        cache_write_one_hour_tokens=write_1h or 0,
        output_tokens=output or 0,
        estimated=input_tokens is None or output is None,
    )


def from_ollama(
    final: Mapping[str, Any],
    *,
    model: str,
    prompt_text: str,
    output_text: str,
    backend: str = "ollama",
) -> TokenUsage:
    """Normalise the counts on Ollama's final ``done`` message.

    A missing count is estimated from the text (``prompt_text`` for the prompt,
    ``output_text`` for the output) and the usage is flagged, so a cached prompt does not
    make a task look free of input.
    """
    prompt = _count(final.get("prompt_eval_count"))
    output = _count(final.get("eval_count"))
    return TokenUsage(
        model=model,
        backend=backend,
        input_tokens=estimate_tokens(prompt_text) if prompt is None else prompt,
        output_tokens=estimate_tokens(output_text) if output is None else output,
        estimated=prompt is None or output is None,
    )


def estimated_usage(*, model: str, backend: str, prompt_text: str, output_text: str) -> TokenUsage:
    """Usage guessed from text, for an attempt that broke before the provider counted it."""
    return TokenUsage(
        model=model,
        backend=backend,
        input_tokens=estimate_tokens(prompt_text),
        output_tokens=estimate_tokens(output_text),
        estimated=True,
    )
