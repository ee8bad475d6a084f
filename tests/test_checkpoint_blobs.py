"""Checkpoint blobs and chains (domain/checkpoint.py)."""

from __future__ import annotations

import pytest
from execstream.v1 import state_pb2 as state_pb
from execstream_server.domain import checkpoint


def _state(task_id: str, seq: int) -> bytes:
    return state_pb.TaskState(
        task_id=task_id, last_seq=seq, output_tail="é" * seq
    ).SerializeToString()


def test_a_blob_round_trips_its_revision_and_states() -> None:
    blob = checkpoint.encode([_state("a", 1), _state("b", 2)], 2**40)
    revision, states = checkpoint.decode(blob)
    assert revision == 2**40
    assert [(s.task_id, s.last_seq, s.output_tail) for s in states] == [
        ("a", 1, "é"),
        ("b", 2, "éé"),
    ]


def test_a_chain_takes_each_task_from_its_latest_link_and_a_base_resets_it() -> None:
    chain = checkpoint.restore(
        [
            (checkpoint.encode([_state("a", 1), _state("b", 1)], 10), True),
            (checkpoint.encode([_state("a", 5)], 20), False),
            (checkpoint.encode([_state("c", 1)], 30), False),
        ]
    )
    assert chain.revision == 30
    assert {t: s.last_seq for t, s in chain.tasks.items()} == {"a": 5, "b": 1, "c": 1}
    chain.add(checkpoint.encode([_state("a", 9)], 40), base=True)
    assert list(chain.tasks) == ["a"] and chain.delta_bytes == 0


def test_deltas_larger_than_the_base_ask_for_a_new_base() -> None:
    chain = checkpoint.Chain()
    chain.add(checkpoint.encode([_state("a", 1)], 1), base=True)
    big = checkpoint.encode([_state(f"t{i}", 100) for i in range(5_000)], 2)
    assert len(big) > 1 << 20
    assert not checkpoint.wants_new_base(chain.base_bytes, chain.delta_bytes)
    chain.add(big, base=False)
    assert checkpoint.wants_new_base(chain.base_bytes, chain.delta_bytes)


def test_links_out_of_order_are_refused() -> None:
    chain = checkpoint.Chain()
    chain.add(checkpoint.encode([], 50), base=True)
    with pytest.raises(checkpoint.CheckpointFormatError, match="out of order"):
        chain.add(checkpoint.encode([], 49), base=False)


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"", "bad magic"),
        (b"SQLite format 3\x00", "bad magic"),
        (checkpoint.MAGIC + b"\x02" + b"\x08\x01", "format 2 is not 1"),
        (checkpoint.MAGIC, "format None is not 1"),
        (checkpoint.MAGIC + b"\x01\x12\x09short", "corrupt"),
    ],
)
def test_a_blob_that_is_not_ours_says_so(blob: bytes, message: str) -> None:
    with pytest.raises(checkpoint.CheckpointFormatError, match=message):
        checkpoint.decode(blob)
