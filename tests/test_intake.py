"""The shared budget of events read but not yet committed (domain/intake.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest
from execstream_server.domain.intake import IntakeBudget


async def _started(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    task = asyncio.ensure_future(coro)
    await asyncio.sleep(0)  # let it run to its first wait
    return task


async def test_reports_within_the_budget_go_at_once_and_the_next_waits_for_a_release() -> None:
    budget = IntakeBudget(100)
    await budget.acquire(60)
    await budget.acquire(40)
    blocked = await _started(budget.acquire(1))
    assert not blocked.done() and budget.waiting == 1
    budget.release(40)
    await blocked
    assert budget.in_flight == 61


async def test_waiters_are_served_in_arrival_order_even_when_a_later_one_would_fit() -> None:
    budget = IntakeBudget(100)
    await budget.acquire(100)
    big = await _started(budget.acquire(80))
    small = await _started(budget.acquire(10))
    budget.release(30)  # 10 would fit, but the 80 came first
    await asyncio.sleep(0)
    assert not big.done() and not small.done()
    budget.release(70)
    await asyncio.gather(big, small)
    assert budget.in_flight == 90


async def test_a_report_larger_than_the_budget_goes_alone() -> None:
    budget = IntakeBudget(10)
    await budget.acquire(500)
    follower = await _started(budget.acquire(1))
    assert not follower.done()
    budget.release(500)
    await follower
    assert budget.in_flight == 1


async def test_a_cancelled_waiter_takes_nothing_and_unblocks_those_behind_it() -> None:
    budget = IntakeBudget(10)
    await budget.acquire(10)
    first = await _started(budget.acquire(10))
    second = await _started(budget.acquire(5))
    first.cancel()
    budget.release(5)  # runs before the cancelled task resumes
    with pytest.raises(asyncio.CancelledError):
        await first
    await second
    assert budget.in_flight == 10 and budget.waiting == 0


async def test_releasing_more_than_acquired_is_a_bug_said_loudly() -> None:
    budget = IntakeBudget(10)
    await budget.acquire(3)
    with pytest.raises(RuntimeError, match="released more"):
        budget.release(4)


def test_an_empty_budget_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        IntakeBudget(0)


async def test_a_report_gives_its_events_back_when_its_commit_ends_either_way() -> None:
    budget = IntakeBudget(10)
    await budget.acquire(4)
    await budget.acquire(6)
    loop = asyncio.get_running_loop()
    committed, refused = loop.create_future(), loop.create_future()
    budget.release_after(committed, 4)
    budget.release_after(refused, 6)
    committed.set_result(None)
    refused.set_exception(RuntimeError("refused"))
    await asyncio.sleep(0)  # done callbacks run on the next loop step
    assert budget.in_flight == 0
    refused.exception()  # retrieved: no "never retrieved" warning
