"""The price table: exact arithmetic per bucket, matching order, local, unpriced, validation."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from execstream.v1 import events_pb2 as events_pb
from execstream_server.domain.cost import add_cost
from execstream_server.domain.pricing import PriceTableError, default_table_text, load_price_table

HEADER = """
version = "t1"
reference_model = "ref"

[models.ref]
input = 3.00
output = 15.00
cache_read = 0.30
cache_write = 3.75
cache_write_1h = 6.00
effective_from = 2026-01-01
source = "test"
"""


def table(tmp_path: Path, body: str = "", header: str = HEADER) -> Path:
    path = tmp_path / "prices.toml"
    path.write_text(textwrap.dedent(header) + textwrap.dedent(body))
    return path


def entry(name: str, **prices: float) -> str:
    lines = [f'[models."{name}"]']
    lines += [f"{key} = {value}" for key, value in prices.items()]
    lines += ["effective_from = 2026-01-01", 'source = "test"', ""]
    return "\n".join(lines)


def test_each_bucket_is_priced_on_its_own_rate(tmp_path: Path) -> None:
    prices = load_price_table(str(table(tmp_path)))
    usage = events_pb.Usage(
        model="ref",
        input_tokens=1_000,  # 1000 * $3/M      = $0.003     = 3_000_000 nanos
        cache_read_tokens=10_000,  # 10k * $0.30/M = $0.003     = 3_000_000
        cache_write_tokens=2_000,  # 2k * $3.75/M  = $0.0075    = 7_500_000
        cache_write_one_hour_tokens=500,  # 500 * $6/M   = $0.003     = 3_000_000
        output_tokens=400,  # 400 * $15/M         = $0.006     = 6_000_000
        reasoning_tokens=300,  # part of output: adds nothing
    )
    cost = prices.price(usage, backend="anthropic")
    assert cost.actual.input_nanos == 3_000_000
    assert cost.actual.cache_read_nanos == 3_000_000
    assert cost.actual.cache_write_nanos == 7_500_000 + 3_000_000
    assert cost.actual.output_nanos == 6_000_000
    assert cost.actual.total_nanos == 22_500_000
    assert cost.price_entry == "ref"
    assert cost.pricing_version == "t1"
    assert cost.savings_nanos == 0  # it ran on the reference model itself
    assert not cost.unpriced and not cost.local


def test_cached_tokens_are_not_charged_as_input(tmp_path: Path) -> None:
    """input_tokens is uncached input only: a fully cached prompt costs only the cache read."""
    prices = load_price_table(str(table(tmp_path)))
    cost = prices.price(events_pb.Usage(model="ref", cache_read_tokens=1_000_000), backend="")
    assert cost.actual.input_nanos == 0
    assert cost.actual.total_nanos == 300_000_000  # $0.30, not $3.30


def test_exact_beats_glob_and_the_most_specific_glob_wins(tmp_path: Path) -> None:
    body = (
        entry("claude-*", input=1, output=1)
        + entry("claude-sonnet-*", input=2, output=2)
        + entry("claude-sonnet-9", input=3, output=3)
    )
    prices = load_price_table(str(table(tmp_path, body)))
    assert prices.lookup("claude-sonnet-9", "").key == "claude-sonnet-9"  # type: ignore[union-attr]
    assert prices.lookup("claude-sonnet-8", "").key == "claude-sonnet-*"  # type: ignore[union-attr]
    assert prices.lookup("claude-haiku-1", "").key == "claude-*"  # type: ignore[union-attr]
    assert prices.lookup("gpt-9", "") is None


def test_backend_fallback_is_local_and_free_when_it_gives_no_price(tmp_path: Path) -> None:
    body = '[backends.ollama]\neffective_from = 2026-01-01\nsource = "local"\n'
    prices = load_price_table(str(table(tmp_path, body)))
    usage = events_pb.Usage(model="llama3.2:3b", input_tokens=1_000_000, output_tokens=100_000)
    cost = prices.price(usage, backend="ollama")
    assert cost.local and cost.price_entry == "backend:ollama"
    assert cost.actual.total_nanos == 0
    # The same tokens on the reference: $3 + $1.50.
    assert cost.reference.total_nanos == 4_500_000_000
    assert cost.savings_nanos == 4_500_000_000


def test_a_model_with_zero_input_and_output_does_not_inherit_cache_prices(
    tmp_path: Path,
) -> None:
    prices = load_price_table(str(table(tmp_path, entry("ollama/*", input=0, output=0))))
    usage = events_pb.Usage(model="ollama/qwen", cache_read_tokens=10**6, cache_write_tokens=10**6)
    cost = prices.price(usage, backend="ollama")
    assert cost.actual.total_nanos == 0 and cost.local


def test_a_priced_cache_makes_a_model_not_local(tmp_path: Path) -> None:
    body = entry("box/*", input=0, output=0, cache_read=0.01)
    prices = load_price_table(str(table(tmp_path, body)))
    cost = prices.price(events_pb.Usage(model="box/m", cache_read_tokens=10**6), backend="")
    assert not cost.local
    assert cost.actual.total_nanos == 10_000_000


def test_unpriced_model_is_flagged_never_free(tmp_path: Path) -> None:
    prices = load_price_table(str(table(tmp_path)))
    cost = prices.price(events_pb.Usage(model="mystery", output_tokens=10), backend="openai")
    assert cost.unpriced
    assert not cost.local
    assert cost.actual.total_nanos == 0 and cost.savings_nanos == 0  # no invented savings


def test_a_dearer_model_has_negative_savings(tmp_path: Path) -> None:
    prices = load_price_table(str(table(tmp_path, entry("big", input=15, output=75))))
    cost = prices.price(
        events_pb.Usage(model="big", input_tokens=10**6, output_tokens=10**6), backend=""
    )
    assert cost.actual.total_nanos == 90_000_000_000
    assert cost.reference.total_nanos == 18_000_000_000
    assert cost.savings_nanos == -72_000_000_000


def test_long_context_tier_prices_the_whole_request(tmp_path: Path) -> None:
    body = entry("long", input=3, output=15) + textwrap.dedent(
        """
        [[models."long".tiers]]
        above_prompt_tokens = 200000
        input = 6
        output = 22.5
        """
    )
    prices = load_price_table(str(table(tmp_path, body)))
    short = events_pb.Usage(
        model="long", input_tokens=150_000, cache_read_tokens=50_000, output_tokens=1000
    )
    # 200_000 prompt tokens is not above the threshold: base rates (cache read = input).
    assert prices.price(short, backend="").actual.total_nanos == 600_000_000 + 15_000_000
    long = events_pb.Usage(
        model="long", input_tokens=150_001, cache_read_tokens=50_000, output_tokens=1000
    )
    cost = prices.price(long, backend="").actual
    assert cost.input_nanos == 900_006_000
    assert cost.output_nanos == 22_500_000  # output at the tier's rate too


def test_fractional_nanos_round_half_even_per_chunk(tmp_path: Path) -> None:
    prices = load_price_table(str(table(tmp_path, entry("tiny", input=0.0005, output=0.0015))))
    # 1 token at $0.0005/M = 0.5 nano-USD -> 0 (half-even); 3 tokens = 1.5 -> 2.
    assert (
        prices.price(events_pb.Usage(model="tiny", input_tokens=1), backend="").actual.input_nanos
        == 0
    )
    assert (
        prices.price(events_pb.Usage(model="tiny", input_tokens=3), backend="").actual.input_nanos
        == 2
    )
    assert (
        prices.price(events_pb.Usage(model="tiny", output_tokens=1), backend="").actual.output_nanos
        == 2
    )


def test_big_sums_do_not_drift(tmp_path: Path) -> None:
    """A million chunks of $0.30/M * 7 tokens add to exactly 7e6 * 0.3 * 1000 nanos."""
    prices = load_price_table(str(table(tmp_path, entry("r", input=0.3, output=0.3))))
    chunk = prices.price(events_pb.Usage(model="r", input_tokens=7), backend="")
    assert chunk.actual.total_nanos == 2_100
    total = chunk
    for _ in range(999):
        total = add_cost(total, chunk)
    assert total.actual.total_nanos == 2_100_000
    as_float = sum([7 * 0.3 / 1e6] * 1000)
    assert as_float != 0.0021  # floats drift; the integers above do not


def test_estimated_usage_flags_the_cost(tmp_path: Path) -> None:
    prices = load_price_table(str(table(tmp_path)))
    cost = prices.price(events_pb.Usage(model="ref", output_tokens=5, estimated=True), backend="")
    assert cost.estimated


def test_the_packaged_table_loads_and_prices_every_claude_family(tmp_path: Path) -> None:
    prices = load_price_table(None)
    assert prices.reference_model.startswith("claude-")
    for model in ("claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-5-5", "claude-opus-4-1"):
        cost = prices.price(
            events_pb.Usage(model=model, input_tokens=10, output_tokens=10), backend=""
        )
        assert not cost.unpriced and cost.actual.total_nanos > 0, model
    assert "taken on" in default_table_text()
    assert ("anthropic", prices.reference_model) in prices.known_labels()


@pytest.mark.parametrize(
    ("body", "header", "key", "problem"),
    [
        (entry("m", input=1, output=1, inptu=2), HEADER, 'models."m".inptu', "unknown key"),
        (entry("m", input=-1, output=1), HEADER, 'models."m".input', "negative price"),
        (entry("m[a", input=1, output=1), HEADER, 'models."m[a"', "bad glob"),
        (entry("m", output=1), HEADER, 'models."m".input', "missing"),
        (
            '[models."m"]\ninput = 1\noutput = 1\nsource = "x"\n',
            HEADER,
            'models."m".effective_from',
            "missing",
        ),
        (
            "",
            HEADER.replace('reference_model = "ref"', 'reference_model = "nope"'),
            "reference_model",
            "matches no entry",
        ),
        ("", HEADER.replace('reference_model = "ref"\n', ""), "reference_model", "missing"),
        ("", HEADER.replace('version = "t1"\n', ""), "version", "missing"),
        ("colour = 1\n", HEADER, "colour", "unknown key"),
        (entry("m", input=1e308, output=1), HEADER, 'models."m".input', "above the maximum 4000"),
        (entry("m", input=1, output=1e12), HEADER, 'models."m".output', "above the maximum"),
        (
            '[backends.gpu]\ncache_read = 4000.01\neffective_from = 2026-01-01\nsource = "x"\n',
            HEADER,
            'backends."gpu".cache_read',
            "above the maximum",
        ),
    ],
)
def test_invalid_tables_name_the_file_key_and_problem(
    tmp_path: Path, body: str, header: str, key: str, problem: str
) -> None:
    path = table(tmp_path, body, header)
    with pytest.raises(PriceTableError) as caught:
        load_price_table(str(path))
    message = str(caught.value)
    assert str(path) in message and key in message and problem in message
    assert "\n" not in message


def test_a_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("version = \n")
    with pytest.raises(PriceTableError, match=r"broken\.toml: not valid TOML"):
        load_price_table(str(path))


def test_the_largest_allowed_price_loads(tmp_path: Path) -> None:
    path = table(tmp_path, entry("m", input=4000, output=4000.0))
    prices = load_price_table(str(path))
    assert prices.exact["m"].rates.output == 4000
