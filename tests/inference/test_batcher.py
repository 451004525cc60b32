"""The micro-batcher coalesces concurrent requests, keeps order, and runs off the event loop."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from bizmodel.inference import MicroBatcher


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_concurrent_requests_are_coalesced_in_order() -> None:
    calls: list[int] = []
    threads: set[str] = set()

    def fn(items: list[int]) -> list[int]:
        calls.append(len(items))
        threads.add(threading.current_thread().name)
        time.sleep(0.01)
        return [x * 10 for x in items]

    async def main() -> list[list[int]]:
        b = MicroBatcher(fn, max_batch_size=8, max_wait_ms=20)
        await b.start()
        out = await asyncio.gather(*(b.submit([i, i + 100]) for i in range(20)))
        await b.stop()
        return list(out)

    out = run(main())
    assert out == [[i * 10, (i + 100) * 10] for i in range(20)]
    assert sum(calls) == 40 and max(calls) <= 8 and len(calls) <= 8
    assert threads == {"bizmodel-infer_0"}  # never the event loop's thread


def test_after_runs_before_callers_are_answered() -> None:
    logged: list[tuple[int, str]] = []

    def after(items: list[int], results: list[int], ctx: list[str]) -> list[str]:
        logged.extend(zip(items, ctx, strict=True))
        return [f"r{r}" for r in results]

    async def main() -> list[list[str]]:
        b = MicroBatcher(lambda xs: xs, max_batch_size=4, max_wait_ms=5, after=after)
        out = await asyncio.gather(b.submit([1], "a"), b.submit([2, 3], "b"))
        assert sorted(logged) == [(1, "a"), (2, "b"), (3, "b")]
        await b.stop()
        return list(out)

    assert run(main()) == [["r1"], ["r2", "r3"]]


def test_a_lone_request_is_answered_without_a_full_batch() -> None:
    async def main() -> list[int]:
        b = MicroBatcher(lambda xs: xs, max_batch_size=64, max_wait_ms=30)
        out = await asyncio.wait_for(b.submit([1]), timeout=10)  # never waits for 63 more
        await b.stop()
        return out

    assert run(main()) == [1]


def test_errors_reach_every_caller_of_the_batch() -> None:
    def fn(items: list[int]) -> list[int]:
        raise ValueError("bad batch")

    async def main() -> None:
        b = MicroBatcher(fn, max_batch_size=4, max_wait_ms=5)
        results = await asyncio.gather(b.submit([1]), b.submit([2]), return_exceptions=True)
        assert all(isinstance(r, ValueError) for r in results)
        assert await asyncio.gather(b.submit([3]), return_exceptions=True)  # still serving
        await b.stop()

    run(main())


@pytest.mark.parametrize("max_batch_size", [1, 3])
def test_max_batch_size_is_respected(max_batch_size: int) -> None:
    sizes: list[int] = []

    def fn(items: list[int]) -> list[int]:
        sizes.append(len(items))
        return items

    async def main() -> None:
        b = MicroBatcher(fn, max_batch_size=max_batch_size, max_wait_ms=10)
        await asyncio.gather(*(b.submit([i]) for i in range(10)))
        await b.stop()

    run(main())
    assert max(sizes) <= max_batch_size and sum(sizes) == 10


def test_workers_run_batches_side_by_side() -> None:
    # Two batches must be in fn at the same time for the barrier to open (one worker: broken).
    barrier = threading.Barrier(2, timeout=10)
    threads: set[str] = set()

    def fn(items: list[int]) -> list[int]:
        threads.add(threading.current_thread().name)
        barrier.wait()
        return [x + 1 for x in items]

    async def main() -> list[list[int]]:
        b = MicroBatcher(fn, max_batch_size=1, max_wait_ms=0, workers=2)
        out = await asyncio.gather(b.submit([1]), b.submit([2]))
        await b.stop()
        return list(out)

    assert run(main()) == [[2], [3]]
    assert threads == {"bizmodel-infer_0", "bizmodel-infer_1"}


def test_one_worker_runs_one_batch_at_a_time() -> None:
    busy, most = [0], [0]
    lock = threading.Lock()

    def fn(items: list[int]) -> list[int]:
        with lock:
            busy[0] += 1
            most[0] = max(most[0], busy[0])
        time.sleep(0.002)
        with lock:
            busy[0] -= 1
        return items

    async def main() -> None:
        b = MicroBatcher(fn, max_batch_size=2, max_wait_ms=0)
        await asyncio.gather(*(b.submit([i]) for i in range(12)))
        await b.stop()

    run(main())
    assert most[0] == 1


def test_batches_that_finish_while_after_runs_share_its_next_call() -> None:
    # `after` blocks on its first call until all 4 batches are computed: the 3 that finished
    # meanwhile go to its second call together. A failing group is retried batch by batch,
    # so only the batch with the bad item fails.
    computed = [0]
    all_computed = threading.Event()
    calls: list[list[int]] = []

    def on_batch(n: int) -> None:  # on the event loop, just before the batch waits for `after`
        computed[0] += 1
        if computed[0] == 4:
            all_computed.set()

    def after(items: list[int], results: list[int], ctx: list[None]) -> list[int]:
        calls.append(list(items))
        if len(calls) == 1:
            assert all_computed.wait(10)
        if -1 in items:
            raise ValueError("bad row")
        return [r * 10 for r in results]

    async def main() -> list[object]:
        b = MicroBatcher(
            lambda xs: xs, max_batch_size=1, max_wait_ms=0, after=after, on_batch=on_batch
        )
        out = await asyncio.gather(*(b.submit([x]) for x in (1, 2, -1, 4)), return_exceptions=True)
        await b.stop()
        return list(out)

    out = run(main())
    assert out[0] == [10] and out[1] == [20] and out[3] == [40]
    assert isinstance(out[2], ValueError)
    assert calls == [[1], [2, -1, 4], [2], [-1], [4]]


def test_drain_answers_every_waiting_caller_then_stops() -> None:
    started = threading.Event()

    def slow(xs: list[int]) -> list[int]:
        started.set()
        time.sleep(0.05)
        return [x * 10 for x in xs]

    async def main() -> tuple[list[list[int]], bool]:
        b = MicroBatcher(slow, max_batch_size=2, max_wait_ms=1)
        calls = [asyncio.ensure_future(b.submit([i])) for i in range(7)]
        await asyncio.sleep(0)  # all seven queued; the first batch computing
        await asyncio.to_thread(started.wait, 10)
        await b.drain()  # four batches of 50 ms: stop() alone would leave callers waiting
        return [c.result() for c in calls], b._task is None

    answers, stopped = run(main())
    assert answers == [[i * 10] for i in range(7)]
    assert stopped
