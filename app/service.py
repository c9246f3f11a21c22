"""The serving core between routes and onnxruntime: admission (bounded slots and queue),
blocking work off the event loop, per-inference time budget, and the predict pipeline."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnxruntime as ort

from app.analysis import totals
from app.config import Settings
from app.errors import AppError, bad_input
from app.inference import preprocess as pre
from app.inference.run import MapOptions, Timer, answer, run
from app.metrics import Metrics
from app.registry import ModelInfo, Registry


@dataclass
class PredictInput:
    model: str
    image: bytes | None = None
    pixels: list[Any] | None = None
    top_k: int = 5
    activations: str = "summary"
    maps: MapOptions = field(default_factory=MapOptions)


class Overloaded(AppError):
    def __init__(self) -> None:
        super().__init__(503, "overloaded", "the server is busy with other inferences; retry in a second",
                         {"Retry-After": "1"})


class Service:
    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.registry = Registry(settings)
        self.pool = ThreadPoolExecutor(max_workers=settings.max_concurrent + 2, thread_name_prefix="infer")
        self._sem: asyncio.Semaphore | None = None
        self.waiting = 0
        # models cheap enough to run on the event loop itself (LeNet-5: 0.4 M MACs, ~0.1 ms)
        self.small = {name for name, src in self.registry.sources.items()
                      if src.info.source == "builtin" and (totals(src.info.layers)["macs"] or 1e18) < 5e6}

    async def start(self) -> None:
        self._sem = asyncio.Semaphore(self.settings.max_concurrent)
        for name in self.settings.eager:
            with contextlib.suppress(AppError):
                await self.blocking(self.registry.session, name)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    async def blocking(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Admit a request to inference, or 503 when the slots and the queue are full."""
        assert self._sem is not None, "Service.start() was not awaited"
        if self._sem.locked() and self.waiting >= self.settings.max_queue:
            self.metrics.rejected.labels("overloaded").inc()
            raise Overloaded()
        self.waiting += 1
        self.metrics.queue.set(self.waiting)
        try:
            await self._sem.acquire()
        finally:
            self.waiting -= 1
            self.metrics.queue.set(self.waiting)
        try:
            yield
        finally:
            self._sem.release()

    def prepare(self, info: ModelInfo, req: PredictInput) -> tuple[np.ndarray, dict[str, Any]]:
        """Preprocess into the model's tensor; also returns what the network saw, for people."""
        if info.input_kind == "digit":
            if req.pixels is not None:
                a = pre.pixels(req.pixels)
            else:
                a = pre.gray(pre.open_image(req.image or b"", self.settings.max_image_pixels))
            m = pre.mnistify(a)
            if list(info.input_shape) not in ([1, 28, 28], [1, 32, 32]):
                raise bad_input(f"{info.name} expects input {info.input_shape}; digits come as 1x28x28 or 1x32x32")
            x = pre.digit_tensor(m, int(info.input_shape[1]), info.mean[0], info.std[0], info.pixel_range)
            return x, {"shape": list(x.shape[1:]), "image": pre.data_url(m), "size": [28, 28]}
        if req.pixels is not None:
            raise bad_input(f"{info.name} takes photos, not a 28x28 pixel array; send an image "
                            "(multipart field 'image' or JSON 'image' as a data URL)")
        if any(d is None for d in info.input_shape):
            raise bad_input(f"{info.name} has an input of unknown size {info.input_shape}; it cannot be run")
        img = pre.open_image(req.image or b"", self.settings.max_image_pixels)
        x = pre.photo(img, [int(d) for d in info.input_shape], info.mean, info.std,  # type: ignore[misc]
                      info.pixel_range, info.bgr)
        m = np.asarray(info.mean, np.float32).reshape(-1, 1, 1)
        s = np.asarray(info.std, np.float32).reshape(-1, 1, 1)
        seen = np.clip((x[0] * s + m) / info.pixel_range, 0, 1)
        seen = seen[::-1] if info.bgr and seen.shape[0] == 3 else seen
        return x, {"shape": list(x.shape[1:]), "image": pre.data_url(seen, "JPEG")}

    async def predict(self, req: PredictInput) -> dict[str, Any]:
        info = self.registry.info(req.model)
        if info.status == "error":
            raise AppError(503, "model_unavailable", f"model {info.name!r} is unavailable: {info.error}")
        if req.image is None and req.pixels is None:
            raise bad_input("send an image (multipart field 'image', or JSON 'image' as a data URL or base64)"
                            + (" or JSON 'pixels' (28x28 numbers in [0,1])" if info.input_kind == "digit" else ""))
        timer = Timer()
        x, seen = self.prepare(info, req)
        timer.lap("preprocess")
        async with self.slot():
            sess = self.registry.cached(info.name) or await self.blocking(self.registry.session, info.name)
            timer.lap("load")
            opts = ort.RunOptions()
            if info.name in self.small:  # microseconds of work: a thread hop would cost more than the run
                prob, outs = run(sess, info, x, req.activations, opts)
                return self._finish(info, req, seen, prob, outs, timer)
            fut = asyncio.get_running_loop().run_in_executor(self.pool, run, sess, info, x, req.activations, opts)
            try:
                prob, outs = await asyncio.wait_for(asyncio.shield(fut), self.settings.inference_timeout_s)
            except TimeoutError:
                opts.terminate = True  # onnxruntime stops the run; the slot is freed below
                with contextlib.suppress(Exception):
                    await fut
                self.metrics.rejected.labels("timeout").inc()
                raise AppError(504, "timeout", f"the inference took longer than "
                               f"{self.settings.inference_timeout_s:g} s and was stopped") from None
        return self._finish(info, req, seen, prob, outs, timer)

    def _finish(self, info: ModelInfo, req: PredictInput, seen: dict[str, Any], prob: np.ndarray,
                outs: dict[str, np.ndarray], timer: Timer) -> dict[str, Any]:
        timer.lap("inference")
        self.metrics.latency.labels(info.name).observe(timer.ms["inference"] / 1000)
        result = answer(info, prob, outs, req.top_k, req.activations, req.maps)
        timer.lap("postprocess")
        return {"model": info.name, "weights": info.weights, "input": seen, **result, "timing_ms": timer.done()}
