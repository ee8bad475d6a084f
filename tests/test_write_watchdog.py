"""The watch-write watchdog: one sweep instead of a timer per write."""

from __future__ import annotations

import asyncio

import pytest
from execstream_server.transport.write_watchdog import WriteWatchdog


async def test_a_write_left_pending_past_the_timeout_raises_timeout_error() -> None:
    watchdog = WriteWatchdog(0.05)
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    with pytest.raises(TimeoutError):
        await watchdog.write(never)
    assert never.cancelled()
    assert watchdog.pending == 0


async def test_a_finished_write_leaves_no_cancellation_behind() -> None:
    watchdog = WriteWatchdog(0.05)
    for _ in range(3):
        await watchdog.write(asyncio.sleep(0))
    # Past several sweeps, the task can still await: nothing cancels it later.
    await asyncio.sleep(0.2)
    current = asyncio.current_task()
    assert current is not None and current.cancelling() == 0


async def test_a_cancellation_from_elsewhere_is_not_turned_into_a_timeout() -> None:
    watchdog = WriteWatchdog(60.0)
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    writer = asyncio.ensure_future(watchdog.write(never))
    await asyncio.sleep(0)
    writer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writer
    assert watchdog.pending == 0


async def test_only_the_stalled_writer_of_many_is_ended() -> None:
    watchdog = WriteWatchdog(0.05)
    stalled: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def steady() -> int:
        for _ in range(20):
            await watchdog.write(asyncio.sleep(0.01))
        return 20

    results = await asyncio.gather(
        watchdog.write(stalled), steady(), steady(), return_exceptions=True
    )
    assert isinstance(results[0], TimeoutError)
    assert list(results[1:]) == [20, 20]


async def test_close_stops_the_sweep_even_with_a_write_pending() -> None:
    watchdog = WriteWatchdog(60.0)
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    writer = asyncio.ensure_future(watchdog.write(never))
    await asyncio.sleep(0)
    await watchdog.close()
    writer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writer
    assert watchdog.pending == 0
