"""`convscope serve`: the web app and API (uvicorn or Ray Serve), optionally fetching published weights first."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import Any

from app import nets


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.config import Settings
    from app.web.app import create_app
    from app.weights.download import loopback_host

    settings = Settings.from_env(models_dir=args.models_dir)
    if args.allow_downloads is not None or settings.allow_downloads is None:  # flag > env > bound to loopback?
        allow = args.allow_downloads if args.allow_downloads is not None else loopback_host(args.host)
        settings = Settings.from_env(models_dir=args.models_dir, allow_downloads=allow)
    for name in (n.strip() for n in (args.pretrained or "").split(",") if n.strip()):
        if _fetch_pretrained(name, settings) != 0:
            return 1
    if args.ray:
        try:
            from app.web.ray_serve import serve_forever
        except ImportError as exc:
            print(f"--ray needs the ray extra: pip install -e '.[ray]' ({exc})", file=sys.stderr)
            return 2
        autoscale = None
        if args.autoscale:
            lo, _, hi = args.autoscale.partition(":")
            autoscale = (int(lo), int(hi))
        return serve_forever(settings, args.host, args.port, args.replicas, autoscale, args.address)
    from app.web.connections import connection_cap, protocol

    # slow clients: header and body deadlines, a connection cap with a fast 503 (README: deployment)
    cap = connection_cap(settings.max_connections)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level=args.log_level,
                timeout_graceful_shutdown=10, access_log=args.access_log, timeout_keep_alive=5,
                http=protocol(settings.header_timeout_s, cap), backlog=min(2048, cap * 2))
    return 0


def _fetch_pretrained(name: str, settings: Any) -> int:
    """`serve --pretrained`: fetch, verify and import one model's published weights unless it has them."""
    from tqdm import tqdm

    from app.backends.onnx_write import card_path
    from app.weights.importer import ImportError_, download

    try:
        name = nets.canonical(name)
        nets.get(name)
    except KeyError as exc:
        print(f"convscope serve --pretrained: {exc.args[0]}", file=sys.stderr)
        return 2
    card = card_path(settings.models_dir, name)
    if card.exists() and (settings.models_dir / f"{name}.onnx").exists():
        with contextlib.suppress(ValueError):
            if json.loads(card.read_text()).get("weights") in ("imported", "trained"):
                print(f"{name}: trained weights already imported ({card.name})", file=sys.stderr)
                return 0
    bar = tqdm(unit="B", unit_scale=True, desc=f"pretrained {name}")

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        out = download(name, settings.models_dir, settings.download_url, progress=progress)
    except ImportError_ as exc:
        bar.close()
        print(f"convscope serve --pretrained: {name}: {exc}", file=sys.stderr)
        return 1
    bar.close()
    print(f"{name}: imported {out['checkpoint']} (sha256 verified): {out['verified']}", file=sys.stderr)
    return 0
