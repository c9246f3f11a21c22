"""Fetching torchvision's published checkpoints from a mirror that may be hostile: the full sha256 and
exact size of each file pinned here, an overall deadline, a size ceiling, and errors that say what happened."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import ipaddress
import json
import os
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.config import DEFAULT_URL_BASE

MIN_RATE = 512 * 1024  # bytes/s the overall deadline allows for, beyond a minute's grace
STALL_S = 30.0  # no byte at all for this long: the mirror has stalled
MAX_REDIRECTS = 5
TEST_PINS_ENV = "CONVSCOPE_TEST_CHECKPOINTS"  # a JSON file of pins; honoured for loopback mirrors only


@dataclass(frozen=True)
class Checkpoint:
    """One published file: its name, and where pinned, its full sha256 and exact size in bytes."""

    model: str
    file: str
    sha256: str | None = None
    size: int | None = None

    @property
    def pinned(self) -> bool:
        return self.sha256 is not None and self.size is not None


# torchvision's IMAGENET1K_V1 files. The full digests and sizes were cross-checked against two published
# catalogues of these files (each digest also starts with the 8 hex digits torchvision puts in the name;
# each size equals torchvision's own `_file_size` metadata in MiB). The files without a pin could not be
# verified from two sources here: `convscope download NAME --sha256 HEX` supplies the digest for them.
CHECKPOINTS: dict[str, Checkpoint] = {c.model: c for c in [
    Checkpoint("alexnet-torchvision", "alexnet-owt-7be5be79.pth"),
    Checkpoint("vgg11", "vgg11-8a719046.pth"),
    Checkpoint("vgg13", "vgg13-19584684.pth"),
    Checkpoint("vgg16-3", "vgg16-397923af.pth",
               "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0", 553_433_881),
    Checkpoint("vgg19", "vgg19-dcbb9e9d.pth",
               "dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44", 574_673_361),
    Checkpoint("resnet18", "resnet18-f37072fd.pth",
               "f37072fd47e89c5e827621c5baffa7500819f7896bbacec160b1a16c560e07ec", 46_830_571),
    Checkpoint("resnet34", "resnet34-b627a593.pth",
               "b627a593bcbe140c234610266fe4f8ae95ea42fc881d091c9b6052e6b1d0590f", 87_319_819),
    Checkpoint("resnet50", "resnet50-0676ba61.pth",
               "0676ba61b6795bbe1773cffd859882e5e297624d384b6993f7c9e683e722fb8a", 102_530_333),
    Checkpoint("resnet101", "resnet101-63fe2227.pth"),
    Checkpoint("resnet152", "resnet152-394f9c45.pth"),
]}


class DownloadError(Exception):
    """A download that failed or was refused; the message says what the mirror did."""


def loopback_host(host: str) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_loopback(url: str) -> bool:
    return loopback_host(urllib.parse.urlsplit(url).hostname or "")


def checkpoint(model: str, url_base: str = DEFAULT_URL_BASE) -> Checkpoint | None:
    """The pinned checkpoint for ``model``; a test mirror on loopback may pin its own generated files."""
    pins = os.environ.get(TEST_PINS_ENV)
    if pins and is_loopback(url_base):
        row = json.loads(Path(pins).read_text()).get(model)
        return Checkpoint(model, row["file"], row["sha256"], row["size"]) if row else None
    return CHECKPOINTS.get(model)


def ceiling(model: str) -> int:
    """The most bytes a checkpoint of ``model`` can need: its parameters as float32 (+ BN buffers), 5 %
    and 4 MiB of container overhead. Pinned sizes are checked to lie between params*4 and this."""
    from app import nets
    from app.analysis import analyse, totals

    params = totals(analyse(nets.get(model)))["params"] or 0
    return int(params * 4 * 1.05) + (4 << 20)


def deadline_for(size: int) -> float:
    """Seconds a whole download may take: a minute, plus the file at MIN_RATE."""
    return 60.0 + size / MIN_RATE


def fetch(url: str, dest: Path, sha256: str, size: int | None = None, ceiling: int | None = None,
          deadline_s: float | None = None, progress: Callable[[int, int], None] | None = None) -> None:
    """Stream ``url`` into ``dest`` (kept only when the sha256 matches), within one overall deadline and
    never more than ``size`` (exact, when pinned) or ``ceiling`` bytes."""
    limit = size or ceiling
    if not limit:
        raise ValueError("fetch needs the expected size or a ceiling")
    deadline = time.monotonic() + (deadline_s if deadline_s is not None else deadline_for(limit))
    tmp = dest.with_name(dest.name + ".part")
    seen = [url]
    try:
        while True:
            conn, resp = _open(url, deadline, limit)
            try:
                if resp.status in (301, 302, 303, 307, 308):
                    nxt = urllib.parse.urljoin(url, resp.getheader("Location") or "")
                    if urllib.parse.urlsplit(nxt).scheme not in ("http", "https"):
                        raise DownloadError(f"{url} redirects to {nxt!r}, which is not an http(s) address")
                    if nxt in seen:
                        raise DownloadError(f"redirect loop: {' -> '.join([*seen, nxt])}")
                    seen.append(nxt)
                    if len(seen) > MAX_REDIRECTS + 1:
                        raise DownloadError(f"more than {MAX_REDIRECTS} redirects from {seen[0]}")
                    url = nxt
                    continue
                if resp.status != 200:
                    raise DownloadError(f"{url} answered HTTP {resp.status} {resp.reason}")
                announced = resp.getheader("Content-Length")
                n = int(announced) if announced is not None and announced.isdigit() else None
                if n is not None:
                    if (size and n != size) or n > limit:
                        want = f"the published file has {size:,}" if size else f"at most {limit:,} can be right"
                        raise DownloadError(f"{url} announces {n:,} bytes; {want}. Refused before downloading.")
                total = n or limit
                _stream(resp, conn, tmp, url, limit, size is not None, sha256, deadline,
                        progress and (lambda done, total=total: progress(done, total)))
                break
            finally:
                conn.close()
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _open(url: str, deadline: float, size: int) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    """Connect and read the status line and headers, all within the overall deadline: a watchdog cuts the
    socket when it passes (per-recv timeouts alone let a mirror trickle its headers a byte at a time)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DownloadError(f"{url!r} is not an http(s) address")
    timeout = _left(deadline, url, 0, size)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(parts.hostname, parts.port, timeout=min(timeout, STALL_S))
    path = parts.path or "/"
    cut = threading.Event()

    def _cut() -> None:
        cut.set()
        sock = conn.sock
        if sock is not None:  # the plain socket's shutdown, under TLS too: wakes the blocked recv with EOF
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    watchdog = threading.Timer(timeout, _cut)
    watchdog.daemon = True
    watchdog.start()
    try:
        conn.request("GET", path + (f"?{parts.query}" if parts.query else ""),
                     headers={"User-Agent": "convscope", "Accept-Encoding": "identity"})
        resp = conn.getresponse()
    except TimeoutError as exc:
        conn.close()
        if cut.is_set():
            raise _too_slow(url, 0, size) from exc
        raise DownloadError(f"{url}: no answer within {min(timeout, STALL_S):.0f} s") from exc
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        if cut.is_set():
            raise _too_slow(url, 0, size) from exc
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise DownloadError(f"could not download {url}: {reason}. This machine may have no internet access; "
                            "download the file elsewhere and run `convscope import NAME FILE`") from exc
    finally:
        watchdog.cancel()
    if cut.is_set():  # cut mid-header: http.client may take the partial head for a whole one
        conn.close()
        raise _too_slow(url, 0, size)
    return conn, resp


def _too_slow(url: str, done: int, size: int) -> DownloadError:
    return DownloadError(f"{url}: too slow, {done:,} of {size:,} bytes when the deadline passed; "
                         "the mirror is trickling or stalled (a longer deadline: --deadline SECONDS)")


def _left(deadline: float, url: str, done: int, size: int) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _too_slow(url, done, size)
    return left


def _stream(resp: http.client.HTTPResponse, conn: http.client.HTTPConnection, tmp: Path, url: str, size: int,
            exact: bool, sha256: str, deadline: float, progress: Callable[[int], None] | None) -> None:
    h = hashlib.sha256()
    done = 0
    with tmp.open("wb") as f:
        while True:
            if conn.sock is not None:
                conn.sock.settimeout(min(_left(deadline, url, done, size), STALL_S))
            try:
                chunk = resp.read1(1 << 20)
            except TimeoutError as exc:
                _left(deadline, url, done, size)  # the deadline's message if that is what ran out
                raise DownloadError(f"{url}: stalled, no data for {STALL_S:.0f} s after {done:,} of "
                                    f"{size:,} bytes") from exc
            except (OSError, http.client.HTTPException) as exc:
                raise DownloadError(f"{url}: connection lost after {done:,} of {size:,} bytes ({exc})") from exc
            if not chunk:
                break
            done += len(chunk)
            if done > size:
                what = "the published file has" if exact else "a checkpoint of this model can need"
                raise DownloadError(f"{url} sent more than the {size:,} bytes {what}; stopped (an endless "
                                    "or wrong body). Nothing kept.")
            h.update(chunk)
            f.write(chunk)
            if progress:
                progress(done)
            _left(deadline, url, done, size)
    if exact and done != size:
        raise DownloadError(f"{url}: the body ended after {done:,} of {size:,} bytes (truncated). Nothing kept.")
    got = h.hexdigest()
    if got != sha256:
        raise DownloadError(f"{url}: sha256 {got} does not match the pinned {sha256}; the file is corrupt or "
                            "not the published one. Refused, nothing kept.")
