"""docs/operations.md holds the limits table exactly as the configuration generates it."""

from __future__ import annotations

from pathlib import Path

from execstream_server.limits_doc import FLAG_REFUSALS, current, limit_options, render

DOC = Path(__file__).resolve().parents[1] / "docs" / "operations.md"


def test_every_limit_flag_says_what_a_client_gets_past_it() -> None:
    assert {o.flag for o in limit_options()} == set(FLAG_REFUSALS)


def test_the_operations_doc_holds_the_generated_limits_table() -> None:
    assert current(DOC.read_text()) == render(), (
        "docs/operations.md's limits table is stale: run "
        "python -m execstream_server.limits_doc --write docs/operations.md"
    )
