"""The serving core between routes and onnxruntime: admission (bounded slots and queue),
blocking work off the event loop, per-inference time budget, and the predict pipeline."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import onnxruntime as ort
from starlette.responses import Response

from app.catalog.info import ModelInfo
from app.config import Settings
from app.errors import AppError, bad_input
from app.metrics import Metrics
from app.serving import preprocess as pre
from app.serving import providers
from app.serving.registry import Registry
from app.serving.run import MapOptions, Timer, answer, check_layers, ort_errors, run

T = TypeVar("T")


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

    async def start(self) -> None:
        self._sem = asyncio.Semaphore(self.settings.max_concurrent)
        for name in self.settings.eager:
            with contextlib.suppress(AppError):
                await self.blocking(self.registry.session, name)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    # what routes ask about the models: the registry stays behind these
    def models(self, refresh: bool = True) -> list[dict[str, Any]]:
        """Every servable model's summary; ``refresh`` first looks for model files dropped in, removed or
        replaced (at most once a second)."""
        if refresh:
            self.registry.refresh(min_interval_s=1.0)
        return self.registry.summaries()

    def info(self, name: str, refresh: bool = False) -> ModelInfo:
        """One model's description (a 404 AppError for an unknown name; case and aliases resolved)."""
        if refresh:
            self.registry.refresh(min_interval_s=1.0)
        return self.registry.info(name)

    def detail(self, name: str) -> dict[str, Any]:
        """One model's summary with its layer table, totals and card (the JSON of GET /api/models/{name})."""
        return self.registry.detail(name)

    def names(self) -> list[str]:
        return sorted(self.registry.sources)

    def closest(self, name: str) -> list[str]:
        """The model names nearest an unknown one, for a 404 page."""
        return self.registry.closest(name)

    def digit_models(self) -> list[str]:
        """Models the drawing pad can drive: digit input of 1x28x28 or 1x32x32 (built-in or a dropped-in file)."""
        return [name for name, src in self.registry.sources.items()
                if src.info.input_kind == "digit" and src.info.digit_sized]

    def provider(self, name: str) -> str:
        """The onnxruntime execution provider the model's session runs on (or, not loaded yet, will run on)."""
        return providers.used(self.registry.cached(name), self.settings.provider)

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Whether the eager models are loaded, and a body saying which are and which are awaited."""
        loaded = set(self.registry.loaded())
        missing = [n for n in self.settings.eager if n not in loaded]
        return not missing, {"status": "ready" if not missing else "starting", "loaded": sorted(loaded),
                             "waiting_for": missing}

    def observe(self) -> None:
        """Bring the metrics' gauges of loaded models and session-cache bytes up to date."""
        self.metrics.loaded.set(len(self.registry.loaded()))
        self.metrics.cache_bytes.set(self.registry.memory_bytes())

    def imported(self, name: str) -> None:
        """New weights were written for ``name``: serve them from the next request on."""
        self.registry.check(name)

    async def available(self, name: str) -> ModelInfo:
        """The model's info as its file is now, read again off the event loop where the file was put
        back or replaced since; 503 when it cannot serve."""
        self.registry.ensure_available(name)
        info = (await self.blocking(self.registry.current, name)).info
        self.registry.ensure_available(info.name)  # the file read again may be broken too
        return info

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
                a = pre.gray(pre.open_image(req.image or b"", self.settings.max_image_pixels, 256))
            m = pre.mnistify(a)
            if not info.digit_sized:
                raise bad_input(f"{info.name} expects input {info.input_shape}; digits come as 1x28x28 or 1x32x32")
            x = pre.digit_tensor(m, int(info.input_shape[1]), info.mean[0], info.std[0], info.pixel_range)
            return x, {"shape": list(x.shape[1:]), "image": pre.data_url(m), "size": [28, 28]}
        if req.pixels is not None:
            raise bad_input(f"{info.name} takes photos, not a 28x28 pixel array; send an image "
                            "(multipart field 'image' or JSON 'image' as a data URL)")
        x, seen = self.photo_input(info, req.image or b"")
        return x, {"shape": list(x.shape[1:]), "image": pre.data_url(seen, "JPEG")}

    def photo_input(self, info: ModelInfo, data: bytes) -> tuple[np.ndarray, np.ndarray]:
        """An image file -> the photo model's (1, C, H, W) input and what the network saw, (C, H, W) RGB in [0, 1]."""
        if any(d is None for d in info.input_shape):
            raise bad_input(f"{info.name} has an input of unknown size {info.input_shape}; it cannot be run")
        side = max(int(d or 0) for d in info.input_shape[1:])
        img = pre.open_image(data, self.settings.max_image_pixels, max(256, round(side / 0.875) + 1))
        x = pre.photo(img, [int(d) for d in info.input_shape], info.mean, info.std,  # type: ignore[misc]
                      info.pixel_range, info.bgr)
        m = np.asarray(info.mean, np.float32).reshape(-1, 1, 1)
        s = np.asarray(info.std, np.float32).reshape(-1, 1, 1)
        seen = np.clip((x[0] * s + m) / info.pixel_range, 0, 1)
        return x, (seen[::-1] if info.bgr and seen.shape[0] == 3 else seen)

    async def predict(self, req: PredictInput) -> dict[str, Any]:
        """Preprocess, run and summarise one input; every step inside an admission slot and on a
        worker thread, so the event loop (and /healthz) never waits for a request's work."""
        info = self.registry.info(req.model)
        self.registry.ensure_available(info.name)  # 503; a restored file is looked at again instead
        if req.image is None and req.pixels is None:
            raise bad_input("send an image (multipart field 'image', or JSON 'image' as a data URL or base64)"
                            + (" or JSON 'pixels' (28x28 numbers in [0,1])" if info.input_kind == "digit" else ""))
        if req.maps.layers:
            check_layers(info, req.maps.layers)
        timer = Timer()
        async with self.slot():
            # one consistent version: the session and the info it was loaded with (loading is not timed)
            sess, info = await self.blocking(self.registry.session_and_info, req.model)
            timer.lap("load")
            return await self.within_budget(lambda opts: self._work(sess, info, req, timer, opts), info.name)

    async def within_budget(self, fn: Callable[[ort.RunOptions], T], model: str, *, what: str = "inference",
                            opts: ort.RunOptions | None = None, stop: Callable[[], None] | None = None,
                            progress: Callable[[], str] = lambda: "") -> T:
        """fn(run_options) on a worker thread, within the per-inference time budget: past it ``stop()``
        (by default: onnxruntime told to stop, RunOptions.terminate), the worker is awaited and the
        caller gets a 504 naming ``what`` and its ``progress()``. onnxruntime failing inside fn -- a
        foreign graph that loads but cannot run -- is model ``model``'s fault: a 503, not a 500. Call it
        inside slot(), so the slot is held until the run has really ended."""
        opts = ort.RunOptions() if opts is None else opts
        stop = stop or (lambda: setattr(opts, "terminate", True))
        fut = asyncio.get_running_loop().run_in_executor(self.pool, fn, opts)
        fut.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved even if nobody awaits it
        try:
            return await asyncio.wait_for(asyncio.shield(fut), self.settings.inference_timeout_s)
        except (TimeoutError, asyncio.TimeoutError):  # two classes on Python 3.10, one from 3.11
            stop()
            with contextlib.suppress(Exception):
                await fut
            self.metrics.rejected.labels("timeout").inc()
            raise AppError(504, "timeout", f"the {what} took longer than "
                           f"{self.settings.inference_timeout_s:g} s and was stopped{progress()}") from None
        except MemoryError:
            raise AppError(503, "out_of_memory", f"the server ran out of memory for this {what} of model "
                           f"{model!r}; try again when it is less busy", {"Retry-After": "1"}) from None
        except ort_errors() as exc:
            if opts.terminate:
                raise
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise AppError(503, "run_failed", f"model {model!r} failed while running: {first[:300]}") from exc
        except asyncio.CancelledError:  # the request is gone: its run is told to stop, and the slot
            stop()                      # is held until it has (as on a timeout)
            with contextlib.suppress(BaseException):
                await fut
            raise

    def _work(self, sess: ort.InferenceSession, info: ModelInfo, req: PredictInput, timer: Timer,
              opts: ort.RunOptions) -> dict[str, Any]:
        """The blocking part of a prediction (a worker thread): preprocessing, the run, the answer."""
        x, seen = self.prepare(info, req)
        timer.lap("preprocess")
        prob, outs = run(sess, info, x, req.activations, opts)
        timer.lap("inference")
        self.metrics.latency.labels(info.name).observe(timer.ms["inference"] / 1000)
        result = answer(info, prob, outs, req.top_k, req.activations, req.maps, self.settings.max_response_bytes)
        del outs
        timer.lap("postprocess")
        return {"model": info.name, "weights": info.weights, "input": seen, **result, "timing_ms": timer.done()}

    async def encode(self, result: dict[str, Any]) -> bytes:
        """An answer as JSON bytes, encoded on a worker thread when it is big (maps run to megabytes)."""
        big = any("maps" in layer for layer in result.get("layers", ()))
        return await self.blocking(_dumps, result) if big else _dumps(result)

    async def respond(self, result: dict[str, Any]) -> Response:
        """A JSON response (``encode``)."""
        return Response(await self.encode(result), media_type="application/json")


def _dumps(obj: Any) -> bytes:
    """The answer as JSON bytes. The maps' base64 strings (megabytes, JSON-safe as they are) are
    spliced in as bytes, not passed through json.dumps: one json.dumps call holds the interpreter
    lock from start to end (~180 ms for VGG16's 19 MB of maps on this 2-core machine), and the
    event loop -- /healthz -- waited for it. Same bytes as json.dumps of the whole answer."""
    layers = obj.get("layers") if isinstance(obj, dict) else None
    blobs: list[str] = []
    if layers:
        token = secrets.token_hex(16)  # a placeholder no model or client can have put in the answer

        def hollow(layer: Any) -> Any:
            maps = layer.get("maps") if isinstance(layer, dict) else None
            if not (isinstance(maps, dict) and isinstance(maps.get("data"), str)):
                return layer
            blobs.append(maps["data"])
            return {**layer, "maps": {**maps, "data": token}}

        obj = {**obj, "layers": [hollow(layer) for layer in layers]}
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    if not blobs:
        return text.encode()
    parts = text.split(f'"{token}"')
    assert len(parts) == len(blobs) + 1
    out = [parts[0].encode()]
    for blob, part in zip(blobs, parts[1:], strict=True):
        out += (b'"', blob.encode("ascii"), b'"', part.encode())
    return b"".join(out)
