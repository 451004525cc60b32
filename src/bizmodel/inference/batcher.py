"""A dynamic micro-batcher: coalesce concurrent requests into one forward pass.

Requests wait in an ``asyncio.Queue``. The batching loop takes the first waiting request, then
keeps taking more until the batch holds ``max_batch_size`` items or ``max_wait_ms`` has passed
since it started waiting; whatever arrived while the previous batch was computing is taken at
once. The batch function runs in dedicated worker threads, never on the event loop: with
``workers`` > 1, up to that many batches run side by side (each takes the queue's next batch as
soon as a worker is free), so a runtime whose forward pass uses one core can keep several cores
busy. An optional ``after`` function (e.g. logging the predictions in one transaction) runs in a
separate thread so the next forward pass overlaps with it; batches that finish while it runs
are passed to its next call together (one commit for all of them). A request's future is
resolved only after ``after`` has returned for its batch.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Request:
    items: Sequence[Any]
    future: asyncio.Future[list[Any]]
    context: Any = None


# A computed batch waiting for ``after``: its requests, items, results, and a future set once
# its callers are answered.
_Done = tuple[list[_Request], list[Any], list[Any], "asyncio.Future[None]"]


@dataclass
class BatchStats:
    batches: int = 0
    items: int = 0
    sizes: list[int] = field(default_factory=list)


class MicroBatcher:
    """Run ``fn(items) -> results`` on coalesced batches of items from concurrent callers.

    Parameters
    ----------
    fn : callable
        ``fn(items: list) -> list`` of the same length, run in the worker thread.
    max_batch_size : int
        Most items per call of ``fn`` (a single larger request is still run whole).
    max_wait_ms : float
        Longest time to wait for more items once a batch has started collecting.
    after : callable, optional
        ``after(items, results, contexts) -> list`` run in a second thread, on one batch or on
        several that finished while its previous call ran; its return value is what callers
        receive (default: the results unchanged).
    on_batch : callable, optional
        Called with the batch size after each batch (metrics).
    workers : int
        Most batches computed at the same time, each in its own thread (``fn`` must then be
        safe to call from several threads at once).

    Examples
    --------
    >>> import asyncio
    >>> async def main():
    ...     b = MicroBatcher(lambda xs: [x * 2 for x in xs], workers=2)
    ...     out = await asyncio.gather(b.submit([1, 2]), b.submit([3]))
    ...     await b.stop()
    ...     return out
    >>> asyncio.run(main())
    [[2, 4], [6]]
    """

    def __init__(
        self,
        fn: Callable[[list[Any]], list[Any]],
        *,
        max_batch_size: int = 32,
        max_wait_ms: float = 5.0,
        after: Callable[[list[Any], list[Any], list[Any]], list[Any]] | None = None,
        on_batch: Callable[[int], None] | None = None,
        workers: int = 1,
    ) -> None:
        self.fn = fn
        self.after = after
        self.on_batch = on_batch
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000.0
        self.workers = max(1, int(workers))
        self._queue: asyncio.Queue[_Request] | None = None
        self._slots: asyncio.Semaphore | None = None
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._written: list[_Done] = []  # computed batches waiting for ``after``
        self._writing = False  # a task is running ``after`` on them
        self._waiting = 0  # callers in submit() not yet answered
        self._worker = ThreadPoolExecutor(self.workers, thread_name_prefix="bizmodel-infer")
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="bizmodel-log")

    async def start(self) -> None:
        if self._task is None:
            self._queue = asyncio.Queue()
            self._slots = asyncio.Semaphore(self.workers)
            self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        self._worker.shutdown(wait=True)
        self._writer.shutdown(wait=True)

    async def drain(self, poll_s: float = 0.01) -> None:
        """Answer every caller already in :meth:`submit`, then :meth:`stop`.

        For a batcher no new caller can reach any more (a model unloaded from a server):
        requests queued or computing when it is called still get their results.
        """
        while self._waiting:
            await asyncio.sleep(poll_s)
        await self.stop()

    async def submit(self, items: Sequence[Any], context: Any = None) -> list[Any]:
        """Queue ``items`` and wait for their results (in the same order)."""
        if self._queue is None:
            await self.start()
        assert self._queue is not None
        fut: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._waiting += 1
        try:
            await self._queue.put(_Request(items, fut, context))
            return await fut
        finally:
            self._waiting -= 1

    async def _collect(self) -> list[_Request]:
        assert self._queue is not None
        first = await self._queue.get()
        batch, size = [first], len(first.items)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_s
        while size < self.max_batch_size:
            try:
                req = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    req = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            batch.append(req)
            size += len(req.items)
        return batch

    async def _loop(self) -> None:
        assert self._slots is not None
        while True:
            # Collect only once a worker is free: requests arriving meanwhile join the batch.
            await self._slots.acquire()
            try:
                reqs = await self._collect()
            except BaseException:
                self._slots.release()
                raise
            task = asyncio.create_task(self._run(reqs))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _run(self, reqs: list[_Request]) -> None:
        assert self._slots is not None
        items = [it for r in reqs for it in r.items]
        try:
            results = await asyncio.get_running_loop().run_in_executor(self._worker, self.fn, items)
        except Exception as exc:
            for r in reqs:
                if not r.future.done():
                    r.future.set_exception(exc)
            return
        finally:
            self._slots.release()
        if self.on_batch is not None:
            self.on_batch(len(items))
        await self._finish(reqs, items, results)

    async def _finish(self, reqs: list[_Request], items: list[Any], results: list[Any]) -> None:
        if self.after is None:
            _answer(reqs, results)
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._written.append((reqs, items, results, done))
        if not self._writing:
            self._writing = True
            task = asyncio.create_task(self._write_loop())
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        await done

    async def _write_loop(self) -> None:
        """Run ``after`` once on all the batches that finished while its previous call ran.

        With a store that syncs every commit to disk (~10 ms each on the benchmark's VM), one
        commit per batch caps the server at the disk's commits per second; one per group keeps
        up. If a group's call fails, its batches are retried one by one, so a batch still
        fails only because of its own rows.
        """
        try:
            while self._written:
                group, self._written = self._written, []
                if len(group) == 1 or not await self._write(group, final=False):
                    for one in group:
                        await self._write([one], final=True)
        finally:
            self._writing = False

    async def _write(self, part: list[_Done], *, final: bool) -> bool:
        """``after`` on ``part``'s batches in one call; answer their callers when it succeeds,
        or (``final``) pass its error on. True when it succeeded."""
        reqs = [r for g in part for r in g[0]]
        items = [it for g in part for it in g[1]]
        results = [res for g in part for res in g[2]]
        contexts = [r.context for r in reqs for _ in r.items]
        assert self.after is not None
        try:
            answers = await asyncio.get_running_loop().run_in_executor(
                self._writer, self.after, items, results, contexts
            )
        except Exception as exc:
            if not final:
                return False
            for r in reqs:
                if not r.future.done():
                    r.future.set_exception(exc)
        else:
            _answer(reqs, answers)
        for g in part:
            if not g[3].done():
                g[3].set_result(None)
        return True


def _answer(reqs: list[_Request], results: list[Any]) -> None:
    pos = 0
    for r in reqs:
        n = len(r.items)
        if not r.future.done():  # a caller that gave up (cancelled) is skipped
            r.future.set_result(results[pos : pos + n])
        pos += n
