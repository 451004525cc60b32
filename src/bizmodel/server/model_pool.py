"""The models a server answers with: loaded lazily per (name, version), one batcher each.

Every prediction goes through the version's :class:`~bizmodel.inference.MicroBatcher`; after
each forward pass its predictions (inputs, output, latency, CPU-seconds and USD cost) are
written to the store in one transaction, and only then are the callers answered.

Models run on ``[server] device`` (``auto``: cuda, else mps, else cpu). A call's USD cost is
its CPU-seconds × ``cpu_usd_per_hour`` on a CPU, and its share of the batch's wall time ×
``gpu_usd_per_hour`` on a GPU (billed by the wall hour, busy or not). Explanations load their
own copy of a model on the CPU.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from bizmodel.errors import DataError, ModelNotFoundError, ServingError
from bizmodel.server.idempotency import keyed_id

log = logging.getLogger("bizmodel.server")


@dataclass
class ServedModel:
    name: str
    version: int
    task: str
    labels: list[str] | None
    pair_column: str | None
    runtime: Any
    batcher: Any

    @property
    def key(self) -> str:
        return f"{self.name}:{self.version}"

    def check_items(self, items: list[tuple[str, str | None]]) -> None:
        has_pair = [p is not None for _, p in items]
        if self.pair_column and not all(has_pair):
            raise DataError(
                f"model {self.key} reads text pairs ({self.pair_column!r}): send 'text_pair' / "
                "'text_pairs' with every text"
            )
        if not self.pair_column and any(has_pair):
            raise DataError(f"model {self.key} reads single texts: drop 'text_pair(s)'")


class LoadedModels:
    """The model versions loaded in one server process, across its pools (the host's and its
    tenants'), at most ``capacity`` at a time: loading one more unloads the least recently
    used, once the requests it is answering are done.

    Parameters
    ----------
    capacity : int
        Most model versions loaded at once (``[server] max_loaded_models``); 0 = no limit.

    Examples
    --------
    >>> lru = LoadedModels(2)
    >>> lru.add("pool", ("a", 1)), lru.add("pool", ("b", 1))
    ([], [])
    >>> lru.touch("pool", ("a", 1))  # a answered a request: b is now the oldest
    >>> lru.add("pool", ("c", 1))
    [('pool', ('b', 1))]
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = int(capacity)
        self._order: OrderedDict[tuple[int, tuple[str, int]], Any] = OrderedDict()

    def __len__(self) -> int:
        return len(self._order)

    def touch(self, pool: Any, key: tuple[str, int]) -> None:
        """Mark ``pool``'s ``key`` as just used."""
        entry = (id(pool), key)
        if entry in self._order:
            self._order.move_to_end(entry)

    def add(self, pool: Any, key: tuple[str, int]) -> list[tuple[Any, tuple[str, int]]]:
        """Count ``pool``'s newly loaded ``key``; return the ``(pool, key)`` pairs to unload."""
        self._order[(id(pool), key)] = pool
        self._order.move_to_end((id(pool), key))
        victims = []
        while self.capacity and len(self._order) > self.capacity:
            (_, old), owner = self._order.popitem(last=False)
            victims.append((owner, old))
        return victims

    def discard(self, pool: Any, key: tuple[str, int]) -> None:
        """Forget ``pool``'s ``key`` (unloaded)."""
        self._order.pop((id(pool), key), None)


def _not_found(exc: ModelNotFoundError, public: str) -> ModelNotFoundError:
    # The registry's message names its folder and every registered model: not for clients.
    return ModelNotFoundError(str(exc), public=public)


def _default_loader(path: Any, device: str = "cpu") -> Any:
    import importlib

    return importlib.import_module("bizmodel.finetune").load_model(path, device=device)


class ModelPool:
    """Loads registered model versions on demand and serves them through micro-batchers."""

    def __init__(
        self,
        registry: Any,
        store: Any,
        settings: Any,
        metrics: Any,
        loader: Callable[[Any], Any] | None = None,
        loaded: LoadedModels | None = None,
    ) -> None:
        self.registry = registry
        self.store = store
        self.settings = settings
        self.metrics = metrics
        device = str(getattr(settings.server, "device", "cpu"))
        self.loader = loader or (lambda path: _default_loader(path, device))
        self._explain_loader = loader or _default_loader  # on the CPU, beside the served one
        self._on_gpu: dict[tuple[str, int], bool] = {}  # served version -> runs on CUDA
        self.models: dict[tuple[str, int], ServedModel] = {}
        self._lock = asyncio.Lock()
        self.default_name: str | None = None
        self._resolved: dict[str, tuple[int, float]] = {}  # name -> (version, when resolved)
        self.resolve_ttl_s = 2.0  # a promotion takes effect within this time
        # Explanations get their own copy of each model: integrated gradients hooks the
        # embedding layer, which must not touch predictions running in the batcher's thread.
        self._explainers: dict[tuple[str, int], Any] = {}
        self.explain_lock = asyncio.Lock()
        # shared by the host's and the tenants' pools: one process, one memory
        if loaded is None:
            loaded = LoadedModels(int(getattr(settings.server, "max_loaded_models", 0)))
        self.loaded = loaded
        self._draining: set[asyncio.Task[None]] = set()

    def _resolve(self, name: str) -> int:
        now = time.monotonic()
        hit = self._resolved.get(name)
        if hit is not None and now - hit[1] < self.resolve_ttl_s:
            return hit[0]
        version = int(self.registry.resolve(name))
        self._resolved[name] = (version, now)
        return version

    def forget_resolved(self, name: str) -> None:
        """Re-read ``name``'s production version on its next request (after a promotion)."""
        self._resolved.pop(name, None)

    def pick_default_name(self) -> str | None:
        wanted = self.settings.server.model_name
        if wanted:
            return str(wanted)
        names = self.registry.names()
        return names[0] if names else None

    async def get(self, name: str | None, version: int | None = None) -> ServedModel:
        name = name or self.default_name
        if name is None:
            raise ModelNotFoundError(
                "no model is being served: register one with `bizmodel register DIR --name NAME`"
            )
        if version is None:
            try:
                version = self._resolve(name)
            except ModelNotFoundError as exc:
                raise _not_found(exc, f"no model named {name!r}") from None
        served = self.models.get((name, version))
        if served is not None:
            self.loaded.touch(self, (name, version))
            return served
        async with self._lock:
            served = self.models.get((name, version))
            if served is None:
                try:
                    served = await asyncio.to_thread(self._load, name, version)
                except ModelNotFoundError as exc:
                    raise _not_found(exc, f"no model {name!r} with version {version}") from None
                except Exception as exc:  # a broken model dir must not become a 500
                    raise ServingError(
                        f"cannot load model {name}:{version}: {exc}",
                        public=f"model {name}:{version} cannot be loaded; the server log says why",
                    ) from exc
                await served.batcher.start()
                self.models[(name, version)] = served
                self.metrics.model_loads.labels(name, str(version)).inc()
                for owner, key in self.loaded.add(self, (name, version)):
                    owner.unload(key)
        return served

    def unload(self, key: tuple[str, int]) -> None:
        """Stop serving ``key`` from memory: new requests load it again; the requests its
        batcher holds are answered first (in the background), then its memory is freed."""
        served = self.models.pop(key, None)
        self._explainers.pop(key, None)
        self.loaded.discard(self, key)
        if served is None:
            return
        log.info(
            "unloaded model %s (least recently used; [server] max_loaded_models = %d)",
            served.key,
            self.loaded.capacity,
        )
        task = asyncio.get_running_loop().create_task(served.batcher.drain())
        self._draining.add(task)
        task.add_done_callback(self._draining.discard)

    async def explainer(self, served: ServedModel) -> Any:
        """A separate instance of ``served``'s model for explanations (loaded on first use)."""
        key = (served.name, served.version)
        model = self._explainers.get(key)
        if model is None:
            path = self.registry.get(served.name, served.version).path
            try:
                model = await asyncio.to_thread(self._explain_loader, path)
            except Exception as exc:  # a broken model dir must not become a 500
                raise ServingError(
                    f"cannot load model {served.key}: {exc}",
                    public=f"model {served.key} cannot be loaded; the server log says why",
                ) from exc
            if key in self.models:  # not unloaded while this copy loaded
                self._explainers[key] = model
        return model

    def _load(self, name: str, version: int) -> ServedModel:
        from bizmodel.inference import MicroBatcher, choose_runtime

        mv = self.registry.get(name, version)
        # Inference gets all cores but one by default: the event loop (HTTP parsing, JSON,
        # validation) keeps a core, and the forward pass is not stalled by it.
        threads = self.settings.server.num_threads or max(1, (os.cpu_count() or 2) - 1)
        import torch

        torch.set_num_threads(threads)
        model = self.loader(mv.path)
        # auto serves int8 only if its outputs stayed within tolerance of fp32 on a held-out
        # sample, as measured at registration (`bizmodel register`); else it measures now.
        stored = (mv.inference_cost or {}).get("int8")
        runtime = choose_runtime(
            model,
            mv.path / "onnx",
            kind=self.settings.server.runtime,
            threads=threads,
            int8=stored if isinstance(stored, dict) else None,
        )
        labels = getattr(model, "labels", None)
        device = getattr(model, "device", None)
        self._on_gpu[(name, version)] = getattr(device, "type", None) == "cuda"
        served = ServedModel(
            name=name,
            version=version,
            task=model.task,
            labels=[str(x) for x in labels] if labels else None,
            pair_column=getattr(model, "text_pair_column", None),
            runtime=runtime,
            batcher=None,
        )
        server = self.settings.server
        served.batcher = MicroBatcher(
            lambda items: self._infer(served, items),
            max_batch_size=server.max_batch_size,
            max_wait_ms=server.max_wait_ms,
            after=lambda items, results, ctx: self._log(served, items, results, ctx),
            on_batch=self.metrics.batch_size.observe,
            workers=getattr(runtime, "parallel_batches", 1) if server.parallel_batches else 1,
        )
        return served

    def _infer(self, served: ServedModel, items: list[tuple[str, str | None]]) -> list[Any]:
        texts = [t for t, _ in items]
        pairs = [p or "" for _, p in items] if served.pair_column else None
        # Batches side by side each compute in their own thread: count that thread's CPU only.
        # Otherwise the runtime may use other threads (intra-op pools): count the process's.
        clock = time.thread_time if getattr(served.batcher, "workers", 1) > 1 else time.process_time
        cpu0, wall0 = clock(), time.perf_counter()
        out = served.runtime.predict(texts, pairs, batch_size=max(len(items), 1))
        cpu_each = (clock() - cpu0) / max(len(items), 1)
        wall_each = (time.perf_counter() - wall0) / max(len(items), 1)
        return [(np.asarray(o).tolist(), cpu_each, wall_each) for o in out]

    def _log(
        self, served: ServedModel, items: list[Any], results: list[Any], contexts: list[Any]
    ) -> list[dict[str, Any]]:
        usd_per_cpu_s = self.settings.server.cpu_usd_per_hour / 3600.0
        on_gpu = self._on_gpu.get((served.name, served.version), False)
        usd_per_gpu_s = self.settings.server.gpu_usd_per_hour / 3600.0
        now = time.perf_counter()
        rows, answers = [], []
        position: dict[int, int] = {}  # each request's items come together, in order
        for (text, pair), (output, cpu_s, wall_s), ctx in zip(
            items, results, contexts, strict=True
        ):
            i = position[id(ctx)] = position.get(id(ctx), -1) + 1
            retry = ctx.get("idempotency")
            pid = (
                uuid.uuid4().hex
                if retry is None
                else keyed_id(*retry, served.name, str(served.version), str(i), text, pair or "")
            )
            latency_ms = 1000.0 * (now - ctx["t0"])
            inputs: dict[str, Any] = (
                {"text": text} if pair is None else {"text": text, "pair": pair}
            )
            rows.append(
                {
                    "id": pid,
                    "ts": ctx.get("ts"),
                    "model_name": served.name,
                    "model_version": served.version,
                    "inputs": inputs,
                    "output": output,
                    "latency_ms": latency_ms,
                    "cpu_seconds": cpu_s,
                    "cost_usd": wall_s * usd_per_gpu_s if on_gpu else cpu_s * usd_per_cpu_s,
                    "user_id": ctx.get("user_id"),
                    "experiment": ctx.get("experiment"),
                    "variant": ctx.get("variant"),
                }
            )
            answers.append({"id": pid, "output": output, "latency_ms": latency_ms})
        self.store.log_predictions(rows)
        labels = (served.name, str(served.version))
        cpu_total = sum(r["cpu_seconds"] for r in rows)
        self.metrics.predictions.labels(*labels).inc(len(rows))
        self.metrics.cpu_seconds.labels(*labels).inc(cpu_total)
        self.metrics.cost_usd.labels(*labels).inc(sum(r["cost_usd"] for r in rows))
        return answers

    def format(self, served: ServedModel, answer: dict[str, Any]) -> dict[str, Any]:
        out = answer["output"]
        if served.task == "classification":
            names = served.labels or [str(i) for i in range(len(out))]
            probs = {n: float(p) for n, p in zip(names, out, strict=False)}
            return {
                "id": answer["id"],
                "label": max(probs, key=probs.__getitem__),
                "probabilities": probs,
            }
        return {"id": answer["id"], "value": float(out)}

    async def close(self) -> None:
        for key, served in self.models.items():
            self.loaded.discard(self, key)
            await served.batcher.stop()
        if self._draining:
            await asyncio.gather(*self._draining, return_exceptions=True)
        self.models.clear()
        self._explainers.clear()
