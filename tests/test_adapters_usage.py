"""Usage normalisation: each provider's counts land in buckets that never overlap."""

from __future__ import annotations

from execstream.adapters.usage import (
    TokenUsage,
    estimate_tokens,
    from_anthropic,
    from_ollama,
    from_openai,
)

OPENAI_USAGE = {
    "prompt_tokens": 2006,
    "completion_tokens": 300,
    "total_tokens": 2306,
    "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 64, "audio_tokens": 0},
}
ANTHROPIC_USAGE = {
    "input_tokens": 50,
    "cache_creation_input_tokens": 1200,
    "cache_read_input_tokens": 8000,
    "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 200},
    "output_tokens": 400,
}


def test_openai_cached_tokens_are_taken_out_of_input_not_added_again() -> None:
    usage = from_openai(OPENAI_USAGE, model="gpt-4o")
    assert (usage.input_tokens, usage.cache_read_tokens) == (86, 1920)
    assert usage.prompt_tokens == OPENAI_USAGE["prompt_tokens"]


def test_openai_reasoning_is_a_subset_of_output() -> None:
    usage = from_openai(OPENAI_USAGE, model="o3")
    assert (usage.output_tokens, usage.reasoning_tokens) == (300, 64)
    assert not usage.estimated


def test_openai_more_cached_than_prompt_never_goes_negative() -> None:
    usage = from_openai(
        {
            "prompt_tokens": 10,
            "completion_tokens": 1,
            "prompt_tokens_details": {"cached_tokens": 50},
        },
        model="m",
    )
    assert (usage.input_tokens, usage.cache_read_tokens) == (0, 10)


def test_openai_without_details_counts_everything_as_uncached_input() -> None:
    usage = from_openai({"prompt_tokens": 12, "completion_tokens": 7}, model="m")
    assert usage == TokenUsage(model="m", backend="openai", input_tokens=12, output_tokens=7)


def test_openai_missing_counts_are_flagged_estimated() -> None:
    assert from_openai({"completion_tokens": 7}, model="m").estimated


def test_anthropic_input_excludes_cache_reads_and_writes() -> None:
    usage = from_anthropic(ANTHROPIC_USAGE, model="claude-sonnet-4-5")
    assert usage.input_tokens == 50
    assert usage.cache_read_tokens == 8000
    assert (usage.cache_write_tokens, usage.cache_write_one_hour_tokens) == (1000, 200)
    assert usage.prompt_tokens == 50 + 8000 + 1200
    assert usage.output_tokens == 400


def test_anthropic_cache_writes_without_ttl_split_are_five_minute_writes() -> None:
    plain = {k: v for k, v in ANTHROPIC_USAGE.items() if k != "cache_creation"}
    usage = from_anthropic(plain, model="claude-haiku-4-5")
    assert (usage.cache_write_tokens, usage.cache_write_one_hour_tokens) == (1200, 0)


def test_cached_tokens_are_never_double_counted_across_providers() -> None:
    """The same 10,000-token prompt, 9,000 of it cached, as each provider reports it."""
    openai = from_openai(
        {
            "prompt_tokens": 10_000,
            "completion_tokens": 5,
            "prompt_tokens_details": {"cached_tokens": 9_000},
        },
        model="gpt-4o",
    )
    anthropic = from_anthropic(
        {"input_tokens": 1_000, "cache_read_input_tokens": 9_000, "output_tokens": 5},
        model="claude-sonnet-4-5",
    )
    for usage in (openai, anthropic):
        assert usage.input_tokens == 1_000
        assert usage.cache_read_tokens == 9_000
        assert usage.prompt_tokens == 10_000


def test_ollama_counts_come_from_the_final_message() -> None:
    usage = from_ollama(
        {"done": True, "prompt_eval_count": 26, "eval_count": 298},
        model="llama3.2:3b",
        prompt_text="why is the sky blue?",
        output_text="because",
    )
    assert (usage.input_tokens, usage.output_tokens, usage.estimated) == (26, 298, False)
    assert usage.backend == "ollama"


def test_ollama_missing_prompt_eval_count_is_estimated_not_zero() -> None:
    prompt = "x" * 400
    usage = from_ollama(
        {"done": True, "eval_count": 3}, model="llama3.2:3b", prompt_text=prompt, output_text="abc"
    )
    assert usage.estimated
    assert usage.input_tokens == estimate_tokens(prompt) == 100
    assert usage.output_tokens == 3


def test_usage_proto_carries_every_bucket() -> None:
    message = from_anthropic(ANTHROPIC_USAGE, model="claude-sonnet-4-5").to_proto()
    assert (message.input_tokens, message.cache_read_tokens) == (50, 8000)
    assert (message.cache_write_tokens, message.cache_write_one_hour_tokens) == (1000, 200)
    assert (message.output_tokens, message.model, message.backend) == (
        400,
        "claude-sonnet-4-5",
        "anthropic",
    )
