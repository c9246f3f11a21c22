"""Start a real `convscope serve` on loopback over a given models folder (for tests that need their own)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NO_MIRROR = "http://127.0.0.1:9/"  # downloads a test does not arrange stay on loopback (and fail: nothing listens)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(models_dir: Path, *extra: str, env: dict[str, str] | None = None,
          log: Path | None = None) -> Iterator[str]:
    """Yield the base URL of a server on 127.0.0.1 once /readyz answers 200; stop it afterwards.
    With ``log``, the server's stderr goes to that file."""
    port = free_port()
    full_env = {**os.environ, "CONVSCOPE_MODELS_DIR": str(models_dir), "OMP_WAIT_POLICY": "PASSIVE",
                "CONVSCOPE_DOWNLOAD_URL": NO_MIRROR, **(env or {})}
    err = open(log, "wb") if log else None
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port), *extra],
                            cwd=ROOT, env=full_env, stderr=err)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(url + "/readyz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"server exited with {proc.returncode}") from None
                time.sleep(0.1)
        else:
            raise RuntimeError("server did not become ready")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        if err:
            err.close()


# the trained digit models committed in models/ (each with its card); lenet5-1998's until it lands is absent
COMMITTED = tuple(f"{n}{ext}" for n in ("lenet5", "lenet5-1998") for ext in (".onnx", ".card.json"))


def copy_lenet(models_dir: Path) -> None:
    """The committed, trained digit models (LeNet-5, LeNet-5 1998 where committed) and their cards, into
    ``models_dir``."""
    import shutil

    for f in COMMITTED:
        if (ROOT / "models" / f).exists():
            shutil.copy(ROOT / "models" / f, models_dir / f)
