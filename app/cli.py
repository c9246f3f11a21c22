"""The `convscope` command: serve, build, info, train, eval, import, download, bench, i18n."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any

from app import nets


def _models_dir(args: argparse.Namespace) -> Path:
    from app.config import Settings

    return Settings.from_env(models_dir=args.models_dir).models_dir


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.config import Settings
    from app.web.app import create_app
    from app.weights.pretrained import loopback_host

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
    import json

    from tqdm import tqdm

    from app.serving.registry import card_path
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


def cmd_build(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from app.serving.registry import card_path, file_bytes, write_builtin

    d = _models_dir(args)
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
    from app.config import Settings
    from app.serving.registry import Registry

    reg = Registry(Settings.from_env(models_dir=args.models_dir, eager=()))
    info = reg.info(args.name)

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


DIGIT_MODELS = ("lenet5", "lenet5-1998")  # trained here on MNIST


def cmd_train(args: argparse.Namespace) -> int:
    try:
        from app.train import train_seeds
    except ImportError as exc:
        print(f"training needs the train extra: pip install -e '.[train]' ({exc})", file=sys.stderr)
        return 2
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else [args.seed]
    if args.base is not None and not args.base.is_file():
        print(f"--from needs an existing trained {args.name} file: {args.base} is not one", file=sys.stderr)
        return 2
    card = train_seeds(args.name, _models_dir(args), seeds, epochs=args.epochs, base=args.base,
                       threads=args.threads, jobs=args.jobs)
    runs = ", ".join(f"seed {r['seed']}: {r['test_accuracy']:.2%}" for r in card["runs"])
    print(f"{args.name}: {runs}; mean {card['test_accuracy_mean']:.2%} +- {card['test_accuracy_std']:.2%}; "
          f"wrote the best ({card['test_accuracy']:.2%}, {card['epochs']} epochs) as {args.name}.onnx "
          f"sha256 {card['sha256'][:12]}...")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    import onnxruntime as ort

    from app import data
    from app.train import evaluate_session

    path = _models_dir(args) / f"{args.name}.onnx"
    if not path.exists():
        print(f"{path} not found; run `convscope train {args.name}`", file=sys.stderr)
        return 2
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    acc, conf = evaluate_session(sess, data.load()["test"])
    print(f"{path.name}: accuracy {acc:.2%} on the 10,000 MNIST test images")
    print("confusion (rows: true digit, columns: predicted)")
    print("     " + " ".join(f"{i:>5d}" for i in range(10)))
    for i, row in enumerate(conf):
        print(f"{i:>3d}  " + " ".join(f"{v:>5d}" for v in row))
    return 0 if acc >= args.min_accuracy else 1


def cmd_import(args: argparse.Namespace) -> int:
    from app.weights.importer import ImportError_, import_checkpoint

    try:
        card = import_checkpoint(args.name, args.checkpoint, _models_dir(args))
    except ImportError_ as exc:
        print(f"convscope import: {exc}", file=sys.stderr)
        return 1
    print(f"imported {args.checkpoint.name} as {card['name']} (sha256 {card['checkpoint_sha256'][:12]}...): "
          f"{card['verified']}")
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from app.weights.importer import DEFAULT_URL_BASE, ImportError_, download

    bar = tqdm(unit="B", unit_scale=True, desc=f"download {args.name}")

    def progress(done: int, total: int) -> None:
        bar.total = total or None
        bar.update(done - bar.n)

    try:
        card = download(args.name, _models_dir(args), args.url_base or os.environ.get(
            "CONVSCOPE_DOWNLOAD_URL", DEFAULT_URL_BASE), progress=progress, expect_sha256=args.sha256,
            deadline_s=args.deadline)
    except ImportError_ as exc:
        bar.close()
        print(f"convscope download: {exc}", file=sys.stderr)
        return 1
    bar.close()
    print(f"imported {card['checkpoint']} as {card['name']}: {card['verified']}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from app.bench.engine import main as bench

    bench(args.models or None, quick=args.quick, out=args.out, http=not args.no_http, ray=args.ray,
          browser=not args.no_browser)
    return 0


def cmd_i18n(args: argparse.Namespace) -> int:
    from app import i18n_catalog

    if args.action == "extract":
        for lang, n in i18n_catalog.update().items():
            print(f"{lang}: {n} messages in app/locale/{lang}/LC_MESSAGES/messages.po")
        return 0
    problems = i18n_catalog.check()
    for line in problems:
        print(line)
    print(f"{len(i18n_catalog.extract())} messages; {len(problems)} problem(s)")
    return 1 if problems else 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="convscope", description="See how a convolutional network works, "
                                "layer by layer.")
    sub = p.add_subparsers(dest="cmd", required=True)

    def add(name: str, fn: object, help: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help)
        sp.set_defaults(fn=fn)
        sp.add_argument("--models-dir", type=Path, default=None,
                        help="folder of ONNX files (default: models/ or $CONVSCOPE_MODELS_DIR)")
        return sp

    sp = add("serve", cmd_serve, "start the web app and API")
    sp.add_argument("--host", default="127.0.0.1")
    sp.add_argument("--port", type=int, default=8000)
    sp.add_argument("--log-level", default="info")
    sp.add_argument("--access-log", action="store_true", help="log every request (off: /metrics counts them)")
    sp.add_argument("--ray", action="store_true", help="serve on Ray Serve (the ray extra): replicas, autoscaling")
    sp.add_argument("--replicas", type=int, default=2, help="with --ray: fixed number of replicas (default 2)")
    sp.add_argument("--autoscale", metavar="MIN:MAX", help="with --ray: autoscale between MIN and MAX replicas")
    sp.add_argument("--address", help="with --ray: join this Ray cluster (default: start one on 127.0.0.1)")
    sp.add_argument("--allow-downloads", action=argparse.BooleanOptionalAction, default=None,
                    help="let the page fetch torchvision's trained weights (default: on when bound to loopback, "
                    "else off; or CONVSCOPE_ALLOW_DOWNLOADS)")
    sp.add_argument("--pretrained", metavar="A,B", help="fetch, verify and import these models' published "
                    "weights before serving (e.g. resnet18,vgg16-3); skips models that have them")
    sp = add("build", cmd_build, "write ONNX files for built-in models (seeded, untrained weights)")
    sp.add_argument("names", nargs="*", help=f"models to build (default: all): {', '.join(nets.BUILTIN_NAMES)}")
    sp.add_argument("--force", action="store_true", help="rebuild files that exist")
    sp.add_argument("--seed", type=int, default=0)
    sp = add("info", cmd_info, "print a model's layer table")
    sp.add_argument("name")
    sp = add("train", cmd_train, "train LeNet-5 (modern or 1998) on MNIST (needs the train extra)")
    sp.add_argument("name", choices=DIGIT_MODELS)
    sp.add_argument("--epochs", type=int, default=12)
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--seeds", default=None, help="comma list, e.g. 0,1,2: one run per seed, one after the "
                    "other; the best is written, its card lists every run with mean and std")
    sp.add_argument("--from", dest="base", type=Path, default=None, metavar="FILE",
                    help="stage 2: start from this trained file of the model (copy it first: the result is written "
                         "as models/NAME.onnx) with lighter distortions, serif-flagged 1s and a moving average")
    sp.add_argument("--jobs", type=int, default=1, help="seeds trained at a time, each in its own process")
    sp.add_argument("--threads", type=int, default=None, help="torch threads per run (default 2; 1 with --jobs)")
    sp = add("import", cmd_import, "turn a torchvision-format checkpoint (.pth/.pt/.safetensors) into a trained model")
    sp.add_argument("name", help="alexnet-torchvision, vgg11, vgg13, vgg16-3, vgg19, resnet18 ... resnet152")
    sp.add_argument("checkpoint", type=Path)
    sp = add("download", cmd_download, "fetch torchvision's published checkpoint, check its hash, import it")
    sp.add_argument("name")
    sp.add_argument("--url-base", default=None, help="where the .pth files live (default: torchvision's server, "
                    "or $CONVSCOPE_DOWNLOAD_URL)")
    sp.add_argument("--sha256", default=None, help="the file's full sha256, for a checkpoint without one pinned "
                    "in convscope (resnet18/34/50, vgg16-3 and vgg19 have theirs)")
    sp.add_argument("--deadline", type=float, default=None, metavar="SECONDS",
                    help="give up after this long in all (default: a minute plus the file at 512 KiB/s)")
    sp = add("bench", cmd_bench, "measure speed side by side with baselines; prints tables, writes JSON")
    sp.add_argument("--models", nargs="*", help="models for the engine and explain sections (default: all; --quick: 4)")
    sp.add_argument("--quick", action="store_true", help="4 models, fewer repetitions, shorter loads")
    sp.add_argument("--no-http", action="store_true", help="skip the server, cold-start and memory sections")
    sp.add_argument("--ray", action="store_true", help="add VGG16-3 through Ray Serve (1 and 2 replicas) vs uvicorn")
    sp.add_argument("--no-browser", action="store_true", help="skip the live pad in Chromium (pen to painted "
                    "prediction over WS /ws/predict; needs playwright and Chromium)")
    sp.add_argument("--out", type=Path, default=None, help="JSON file (default bench/results/bench-TIME.json)")
    sp = add("eval", cmd_eval, "accuracy of a trained digit model on the 10,000 MNIST test images")
    sp.add_argument("name", choices=DIGIT_MODELS)
    sp.add_argument("--min-accuracy", type=float, default=0.99, help="exit 1 below this (default 0.99)")
    sp = add("i18n", cmd_i18n, "translation catalogs: 'extract' merges new messages into app/locale/*/messages.po, "
             "'check' fails on any message without a translation")
    sp.add_argument("action", choices=["extract", "check"])
    return p


def main(argv: list[str] | None = None) -> int:
    from app.errors import AppError

    args = parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except KeyError as exc:
        print(f"convscope: {exc.args[0]}", file=sys.stderr)
        return 2
    except AppError as exc:
        print(f"convscope: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
