"""A checkpoint mirror on loopback for the download tests: serves generated files, and misbehaves on request
(endless body, trickle, stall, redirect loop, lying Content-Length, truncation, trickled headers), plus the pins
file that points convscope's downloader at the generated files (honoured for loopback mirrors only)."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path


def pins(files: dict[str, Path], out: Path) -> Path:
    """Write {model: {file, sha256, size}} for generated checkpoints; return the file's path."""
    rows = {m: {"file": p.name, "sha256": hashlib.sha256(p.read_bytes()).hexdigest(), "size": p.stat().st_size}
            for m, p in files.items()}
    out.write_text(json.dumps(rows))
    return out


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    root: Path
    mode: dict[str, str]  # file name -> behaviour; default "good"
    hits: list[str]

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.hits.append(self.path)
        name = self.path.rsplit("/", 1)[-1].removesuffix(".b")  # .b: the second hop of a redirect loop
        mode = self.mode.get(name, "good")
        path = self.root / name
        if mode == "loop":  # a -> b -> a ...
            nxt = self.path + ".b" if not self.path.endswith(".b") else self.path[:-2]
            self._head(302, {"Location": nxt, "Content-Length": "0"})
            return
        if mode == "slowheaders":  # a status line, then one header byte every 0.2 s for 6 s, then a valid answer
            with contextlib.suppress(OSError):
                self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                for _ in range(30):
                    self.wfile.write(b"a")
                    self.wfile.flush()
                    time.sleep(0.2)
                self.wfile.write(b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            self.close_connection = True
            return
        if not path.is_file():
            self._head(404, {"Content-Length": "0"})
            return
        data = path.read_bytes()
        if mode == "good":
            self._head(200, {"Content-Length": str(len(data))})
            self.wfile.write(data)
        elif mode == "endless":  # no length, bytes until the client hangs up
            self._head(200, {"Connection": "close"})
            with contextlib.suppress(OSError):
                while True:
                    self.wfile.write(b"\0" * 65536)
        elif mode == "liar":  # announces far more than the file
            self._head(200, {"Content-Length": str(len(data) * 1000)})
        elif mode == "trickle":  # one byte every 0.2 s
            self._head(200, {"Content-Length": str(len(data))})
            with contextlib.suppress(OSError):
                for b in data:
                    self.wfile.write(bytes([b]))
                    self.wfile.flush()
                    time.sleep(0.2)
        elif mode == "stall":  # headers, then silence
            self._head(200, {"Content-Length": str(len(data))})
            self.wfile.write(data[:10])
            self.wfile.flush()
            time.sleep(5)
        elif mode == "truncate":
            self._head(200, {"Content-Length": str(len(data))})
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
        elif mode == "tampered":  # right length, one byte changed
            self._head(200, {"Content-Length": str(len(data))})
            self.wfile.write(data[:-1] + bytes([data[-1] ^ 1]))

    def _head(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()


@contextlib.contextmanager
def mirror(root: Path, mode: dict[str, str] | None = None) -> Iterator[tuple[str, dict[str, str], list[str]]]:
    """Serve ``root`` on 127.0.0.1; yield (base URL, the mode table to change, the paths requested)."""
    mode = {} if mode is None else mode
    hits: list[str] = []
    handler = type("Handler", (_Handler,), {"root": root, "mode": mode, "hits": hits})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/models/", mode, hits
    finally:
        srv.shutdown()
        srv.server_close()
