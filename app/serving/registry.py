"""The serving side of the models: every servable source by name (app.catalog.sources), whether each
is loaded, available or broken (the registry owns that status, not the ModelInfo), and the
memory-bounded least-recently-used cache of onnxruntime sessions, with the process's memory measured.
"""

from __future__ import annotations

import difflib
import logging
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import onnxruntime as ort

from app import nets
from app.backends.onnx_write import file_bytes
from app.catalog import sources as catalog
from app.catalog.info import ModelInfo
from app.catalog.sources import BuiltinSource, FileSource, ModelSource
from app.catalog.store import signature
from app.config import Settings
from app.errors import AppError
from app.serving.providers import chosen, session_options

log = logging.getLogger("convscope")


def rss_bytes() -> int:
    """Resident memory of this process (Linux; 0 elsewhere)."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def unavailable(name: str, why: object) -> AppError:
    """The 503 of a model that cannot serve (its file is broken, failed to load or was deleted)."""
    return AppError(503, "model_unavailable", f"model {name!r} is unavailable: {why}")


class Registry:
    """Every servable model by name, its status, and a least-recently-used cache of their sessions.

    A cache entry holds a session together with the ModelInfo it was loaded with, so a request
    always sees one version of a model (its output names and its session), even while the file
    is being replaced. Status: "available", "loaded" or "error", with an error message (set when a
    file cannot be served, fails to load, is deleted, or a reload failed while the old one serves)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sources: dict[str, ModelSource] = {}
        self._status: dict[str, tuple[str, str | None]] = {}
        self._sessions: OrderedDict[str, tuple[ort.InferenceSession, int, ModelInfo]] = OrderedDict()
        self._lock = threading.Lock()
        self._check_lock = threading.RLock()  # one reload at a time
        self._model_locks: dict[str, threading.Lock] = {}
        self.scan()

    def scan(self) -> None:
        self._dir_sig = signature(self.settings.models_dir)
        found = catalog.scan(self.settings)
        self._status = {name: _fresh(src) for name, src in found.items()}
        self.sources = found
        self._scanned = time.monotonic()

    def _install(self, name: str, src: ModelSource) -> None:
        """A (new version of a) source under ``name``, with the status its file gives it."""
        self._status[name] = _fresh(src)
        self.sources[name] = src

    def refresh(self, min_interval_s: float = 0.0) -> None:
        """Notice files added, removed or replaced in the models directory since the last look.

        A removed file's model becomes unavailable. A replaced file is reloaded; if the new file
        is broken, the previous good session keeps serving and the model reports why."""
        if time.monotonic() - self._scanned < min_interval_s:
            return
        with self._check_lock:
            self._scanned = time.monotonic()
            self._dir_sig = signature(self.settings.models_dir)
            for path in catalog.foreign_files(self.settings.models_dir):
                if path.stem not in self.sources:
                    self._install(path.stem, FileSource(path, self.settings))
            for name in list(self.sources):
                self.check(name)

    def check(self, name: str) -> None:
        """Compare one model's file with what was loaded; reload, or mark it unavailable."""
        if signature(self.sources[name].path) == self.sources[name].signature:
            return
        with self._check_lock:
            src = self.sources[name]
            sig = signature(src.path)
            if sig == src.signature:
                return
            if isinstance(src, BuiltinSource):  # rebuilt or re-imported: read its card again, load lazily
                self._drop(name)
                self._install(name, BuiltinSource(name, self.settings))
                return
            if sig is None:
                self._drop(name)
                src.signature = None
                self._status[name] = ("error", f"{src.path.name} was deleted")
                return
            fresh = FileSource(src.path, self.settings)
            held = name in self._sessions
            if held and fresh.error is None:
                try:
                    sess, cost = self._load(fresh.onnx_path(), fresh)
                except Exception as exc:
                    fresh.error = f"{src.path.name}: could not load: {exc}"
                else:
                    with self._lock:  # the new version's session and info replace the old pair at once
                        self._sessions[name] = (sess, cost, fresh.info)
                        self._install(name, fresh)
                        self._status[name] = ("loaded", None)
                    return
            if held:  # a failed reload keeps the previous good session
                src.signature = sig
                self._status[name] = (self._status[name][0],
                                      f"reload failed, still serving the previous version: {fresh.error}")
                return
            with self._lock:
                self._sessions.pop(name, None)
                self._install(name, fresh)

    def _drop(self, name: str) -> None:
        with self._lock:
            self._sessions.pop(name, None)

    def get(self, name: str) -> ModelSource:
        """The source of a model by name (404 otherwise). A file added to or restored in the models
        directory is noticed here, by the directory's modification time, without a listing first."""
        if nets.canonical(name) not in self.sources and signature(self.settings.models_dir) != self._dir_sig:
            self.refresh()
        src = catalog.lookup(self.sources, name)
        if src is None:
            raise catalog.unknown(name, self.sources)
        return src

    def changed(self, name: str) -> bool:
        """Whether the model's file differs from what was read (a stat; the reload is current()'s)."""
        src = self.get(name)
        return signature(src.path) != src.signature

    def current(self, name: str) -> ModelSource:
        """Like get(), after comparing the model's file with what was loaded (a stat): a deleted
        then restored file serves again, a replaced one is reloaded."""
        src = self.get(name)
        self.check(src.info.name)
        return self.sources[src.info.name]

    def info(self, name: str) -> ModelInfo:
        return self.get(name).info

    def status(self, name: str) -> tuple[str, str | None]:
        """("available" | "loaded" | "error", the error message or None) of a model by name (404 otherwise)."""
        return self._status[self.get(name).info.name]

    def ensure_available(self, name: str) -> None:
        """503 when the model cannot serve (its file is broken, failed to load or was deleted) and its
        file is as it was then; a file put back or replaced since passes, to be read by the session's load."""
        status, error = self.status(name)
        if status == "error" and not self.changed(name):
            raise unavailable(self.info(name).name, error)

    def summaries(self) -> list[dict[str, Any]]:
        """Every model's summary with its status, in the registry's order (built-ins first)."""
        return [src.info.summary(*self._status[name]) for name, src in list(self.sources.items())]

    def detail(self, name: str) -> dict[str, Any]:
        """One model's summary with its layers, totals, card and status (404 for an unknown name)."""
        return self.info(name).detail(*self.status(name))

    def closest(self, name: str, n: int = 3) -> list[str]:
        """The model names nearest to a mistyped one (for the 404 page), best first."""
        names = list(self.sources)
        return difflib.get_close_matches(name.lower()[:100], names, n=n, cutoff=0.4)

    def loaded(self) -> list[str]:
        return list(self._sessions)

    def memory_bytes(self) -> int:
        return sum(entry[1] for entry in list(self._sessions.values()))

    def cached(self, name: str) -> ort.InferenceSession | None:
        """The model's session if it is loaded and its file unchanged (cheap: no thread needed)."""
        src = self.get(name)
        entry = self._sessions.get(src.info.name)
        if entry is None or signature(src.path) != src.signature:
            return None
        with self._lock:
            if src.info.name in self._sessions:
                self._sessions.move_to_end(src.info.name)
        return entry[0]

    def session(self, name: str) -> ort.InferenceSession:
        """The model's session, created on first use (blocking: call it off the event loop)."""
        return self.session_and_info(name)[0]

    def session_and_info(self, name: str) -> tuple[ort.InferenceSession, ModelInfo]:
        """The model's session and the ModelInfo of the same version (blocking: off the event loop)."""
        src = self.current(name)
        key = src.info.name
        with self._lock:
            entry = self._sessions.get(key)
            if entry is not None:
                self._sessions.move_to_end(key)
                return entry[0], entry[2]
            mlock = self._model_locks.setdefault(key, threading.Lock())
        status, error = self._status[key]
        if status == "error":
            raise unavailable(key, error)
        with mlock:
            with self._lock:
                entry = self._sessions.get(key)
                if entry is not None:
                    return entry[0], entry[2]
            t0 = time.perf_counter()
            try:
                sess, cost = self._load(src.onnx_path(), src)
            except AppError:
                raise
            except Exception as exc:
                self._status[key] = ("error", f"{key}: could not load: {exc}")
                log.warning("model %s failed to load: %s", key, exc)
                raise unavailable(key, exc) from exc
            with self._lock:
                if self.sources.get(key) is not src:  # replaced while loading: serve, but do not cache
                    return sess, src.info
                self._sessions[key] = (sess, cost, src.info)
                self._status[key] = ("loaded", self._status[key][1])
                self._evict(keep=key)
            log.info("loaded %s in %.2fs (~%d MB)", key, time.perf_counter() - t0, cost >> 20)
            return sess, src.info

    def _load(self, path: Path, src: ModelSource | None = None) -> tuple[ort.InferenceSession, int]:
        """A new session and its cost: the measured growth of the process (at least the weights on
        disk) plus the memory its runs take (estimated from the graph: the cache bound counts both).
        Foreign files run without onnxruntime's memory arena, so a run's memory goes back after it."""
        foreign = src is not None and src.info.source == "file"
        rss0 = rss_bytes()
        sess = ort.InferenceSession(str(path), session_options(self.settings.intra_op_threads, arena=not foreign),
                                    providers=chosen(self.settings.provider))
        runs = src.info.run_bytes if src is not None else 0
        return sess, max(rss_bytes() - rss0, file_bytes(path)) + runs + (8 << 20)

    def _evict(self, keep: str) -> None:
        limit = self.settings.cache_mb << 20
        while self.memory_bytes() > limit and len(self._sessions) > 1:
            old = next(iter(self._sessions))
            if old == keep:
                self._sessions.move_to_end(old)
                old = next(iter(self._sessions))
            self._sessions.pop(old)
            self._status[old] = ("available", self._status[old][1])
            log.info("evicted %s from the session cache", old)


def _fresh(src: ModelSource) -> tuple[str, str | None]:
    """The status a source starts with: "error" when its file cannot be served, else "available"."""
    return ("error", src.error) if src.error else ("available", None)
