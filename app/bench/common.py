"""What the benchmark modules share: timing (interleaved repetitions, medians), an onnxruntime session
with the server's options, free loopback ports, the RSS of a process, and starting a server process."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import onnxruntime as ort

from app.config import PACKAGE_DIR
from app.serving.providers import CPU, session_options


def median_ms(xs: list[float]) -> float:
    return round(statistics.median(xs) * 1000, 3)


def interleaved(fns: dict[str, Callable[[], object]], reps: int, warmup: int = 2) -> dict[str, list[float]]:
    """Time each function ``reps`` times, round-robin, so drift on a shared machine hits all alike."""
    for f in fns.values():
        for _ in range(warmup):
            f()
    out: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(reps):
        for k, f in fns.items():
            t = time.perf_counter()
            f()
            out[k].append(time.perf_counter() - t)
    return out


def session(path: Path, threads: int) -> ort.InferenceSession:
    """A CPU session over ``path`` with the options the server's sessions have, ``threads`` intra-op threads."""
    return ort.InferenceSession(str(path), session_options(threads), providers=[CPU])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(args: list[str], env: dict[str, str], quiet: bool = True) -> tuple[subprocess.Popen, str, float]:
    """Start ``python -m <args> --port <free port>`` (this interpreter, this copy of `app`: the installed
    one or the checkout); return the process, its URL and the seconds from spawn to /readyz answering 200.
    ``quiet`` drops its output."""
    port = free_port()
    t0 = time.perf_counter()
    out = subprocess.DEVNULL if quiet else None
    proc = subprocess.Popen([sys.executable, "-m", *args, "--port", str(port)], cwd=PACKAGE_DIR.parent,
                            env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE", **env}, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    while time.perf_counter() - t0 < 60 and proc.poll() is None:
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return proc, url, time.perf_counter() - t0
        except httpx.HTTPError:
            time.sleep(0.02)
    proc.kill()
    raise RuntimeError(f"{args} did not start")


def start_server(models_dir: Path, env_extra: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """`convscope serve` on a free loopback port with ``models_dir``; returns once /readyz says 200."""
    proc, url, _ = spawn(["app.cli", "serve", "--log-level", "error"],
                         {"CONVSCOPE_MODELS_DIR": str(models_dir), **env_extra}, quiet=False)
    return proc, url
