"""`convscope build`, `info`, `import` and `download`: ONNX files of the built-in models, their layer
tables, and trained weights from torchvision checkpoints."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from app import nets


def models_dir(args: argparse.Namespace) -> Path:
    """The models folder: --models-dir, else $CONVSCOPE_MODELS_DIR, else the default."""
    from app.config import Settings

    return Settings.from_env(models_dir=args.models_dir).models_dir


def cmd_build(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from app.backends.onnx_write import card_path, file_bytes
    from app.catalog.store import write_builtin

    d = models_dir(args)
    names = [nets.canonical(n) for n in (args.names or nets.BUILTIN_NAMES)]
    for n in names:
        nets.get(n)  # fail on unknown names before building anything
    bar = tqdm(names, desc="build", unit="model")
    for n in bar:
        path = d / f"{n}.onnx"
        if path.exists() and not args.force:
            bar.write(f"{n}: {path} exists (use --force to rebuild)")
            continue
        if card_path(d, n).exists() and not args.force:
            bar.write(f"{n}: has trained/imported weights; skipped")
            continue
        bar.set_postfix(model=n)
        t = time.perf_counter()
        write_builtin(n, d, seed=args.seed)
        bar.write(f"{n}: wrote {path} ({file_bytes(path) / 1e6:.1f} MB with its weights) in "
                  f"{time.perf_counter() - t:.1f} s")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from app.analysis import totals
    from app.catalog import sources
    from app.config import Settings

    found = sources.scan(Settings.from_env(models_dir=args.models_dir, eager=()))
    src = sources.lookup(found, args.name)
    if src is None:
        raise sources.unknown(args.name, found)
    info = src.info

    def s(v: object) -> str:
        return "?" if v is None else (f"{v:,}" if isinstance(v, int) else str(v))

    rows = [("layer", "op", "kernel/stride/pad", "output", "params", "MACs", "RF")]
    for layer in info.layers:
        ksp = "" if layer.kernel is None else f"{layer.kernel[0]}/{layer.stride[0]}/{layer.padding[0]}"  # type: ignore[index]
        if layer.groups and layer.groups > 1:
            ksp += f" g{layer.groups}"
        rf = "" if layer.receptive_field is None else f"{layer.receptive_field['size']:g}"
        shape = "?" if layer.output_shape is None else "x".join(map(str, layer.output_shape))
        rows.append((layer.name, "+".join(layer.ops), ksp, shape, s(layer.params), s(layer.macs), rf))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print(f"{info.title}  ({info.name}, input {'x'.join(map(str, info.input_shape))}, weights: {info.weights})")
    for i, r in enumerate(rows):
        print("  ".join(c.rjust(w) if j >= 4 else c.ljust(w) for j, (c, w) in enumerate(zip(r, widths, strict=True))))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    t = totals(info.layers)
    print(f"total params: {s(t['params'])}   total MACs: {s(t['macs'])}   "
          f"activations: {s(t['activations'])} values")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from app.weights.importer import ImportError_, import_checkpoint

    try:
        card = import_checkpoint(args.name, args.checkpoint, models_dir(args))
    except ImportError_ as exc:
        print(f"convscope import: {exc}", file=sys.stderr)
        return 1
    print(f"imported {args.checkpoint.name} as {card['name']} (sha256 {card['checkpoint_sha256'][:12]}...): "
          f"{card['verified']}")
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from app.config import DEFAULT_URL_BASE
    from app.weights.importer import ImportError_, download

    bar = tqdm(unit="B", unit_scale=True, desc=f"download {args.name}")

    def progress(done: int, total: int) -> None:
        bar.total = total or None
        bar.update(done - bar.n)

    try:
        card = download(args.name, models_dir(args), args.url_base or os.environ.get(
            "CONVSCOPE_DOWNLOAD_URL", DEFAULT_URL_BASE), progress=progress, expect_sha256=args.sha256,
            deadline_s=args.deadline)
    except ImportError_ as exc:
        bar.close()
        print(f"convscope download: {exc}", file=sys.stderr)
        return 1
    bar.close()
    print(f"imported {card['checkpoint']} as {card['name']}: {card['verified']}")
    return 0
