"""Trained weights fetched by the server for the page: one background job at a time (download, verify the
pinned sha256, import), its progress, and the rule for when a server may download at all."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from app import i18n, nets
from app.config import Settings
from app.errors import AppError
from app.i18n import N_
from app.weights import download as dl

log = logging.getLogger("convscope")




ENABLE = N_("Downloads are off on this server (it is not bound to loopback, or was started with "
            "--no-allow-downloads). Restart it with \"convscope serve --allow-downloads\" (or "
            "CONVSCOPE_ALLOW_DOWNLOADS=1), or run \"convscope download {name}\" where it runs.")


@dataclass
class Job:
    model: str
    file: str
    total: int
    state: str = "downloading"  # downloading -> importing -> done | error
    done: int = 0
    error: str | None = None
    started: float = field(default_factory=time.time)

    def public(self) -> dict[str, Any]:
        return asdict(self)


class Pretrained:
    """The server's downloads of torchvision's checkpoints; ``on_imported(name)`` makes the registry reload."""

    def __init__(self, settings: Settings, on_imported: Callable[[str], None]) -> None:
        self.settings = settings
        self.on_imported = on_imported
        self.allowed = bool(settings.allow_downloads)
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def offer(self, name: str) -> dict[str, Any] | None:
        """The published checkpoint the page may offer for ``name`` (pinned ones only), or None."""
        name = nets.canonical(name)
        ck = dl.checkpoint(name, self.settings.download_url) if name in nets.BUILTIN_NAMES else None
        return {"file": ck.file, "size": ck.size} if ck is not None and ck.pinned else None

    def status(self, name: str) -> dict[str, Any]:
        job = self.jobs.get(nets.canonical(name))
        return {"offer": self.offer(name), "allowed": self.allowed,
                "enable": None if self.allowed else i18n._(ENABLE).format(name=nets.canonical(name)),
                "job": job.public() if job else None}

    def start(self, name: str) -> Job:
        name = nets.canonical(name)
        offer = self.offer(name)
        if offer is None:  # first: enabling downloads would not help (it said to)
            pinned = ", ".join(c.model for c in dl.CHECKPOINTS.values() if c.pinned)
            raise AppError(404, "no_checkpoint", f"no published checkpoint with a pinned sha256 is known for "
                           f"{name[:100]}; the page can fetch: {pinned}")
        if not self.allowed:
            raise AppError(403, "downloads_disabled", i18n._(ENABLE).format(name=name))
        with self._lock:
            busy = [j for j in self.jobs.values() if j.state in ("downloading", "importing")]
            if busy and busy[0].model == name:
                return busy[0]
            if busy:
                raise AppError(409, "download_busy", f"already fetching {busy[0].model}; one download at a "
                               "time: try again when it is done")
            job = self.jobs[name] = Job(name, offer["file"], offer["size"])
        threading.Thread(target=self._run, args=(job,), name=f"download-{name}", daemon=True).start()
        return job

    def _run(self, job: Job) -> None:
        from app.weights.importer import ImportError_, download

        def progress(done: int, total: int) -> None:
            job.done, job.total = done, total
            if done >= total:
                job.state = "importing"

        try:
            download(job.model, self.settings.models_dir, self.settings.download_url, progress=progress)
            self.on_imported(job.model)
            job.state = "done"
            log.info("imported torchvision's %s as %s", job.file, job.model)
        except ImportError_ as exc:
            job.state, job.error = "error", str(exc)
        except Exception as exc:  # reported on the page, never a dead thread without a word
            log.exception("download of %s failed", job.model)
            job.state, job.error = "error", f"{type(exc).__name__}: {exc}"
