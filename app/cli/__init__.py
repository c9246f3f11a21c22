"""The `convscope` command: serve, build, info, train, eval, import, download, bench, i18n. The parser is
here; each command group's functions are in a module of their own (serve, models, digits, tools)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app import nets
from app.cli.digits import DIGIT_MODELS, cmd_eval, cmd_train
from app.cli.models import cmd_build, cmd_download, cmd_import, cmd_info
from app.cli.serve import cmd_serve
from app.cli.tools import cmd_bench, cmd_i18n


def _ranged(kind: type, lo: float, hi: float | None = None) -> object:
    """An argparse type: ``kind`` within lo..hi (NaN refused), with a message naming the range."""
    def parse(text: str) -> object:
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a{'n integer' if kind is int else ' number'}") from None
        if not (v >= lo and (hi is None or v <= hi)):  # NaN fails both
            raise argparse.ArgumentTypeError(f"{text} is not within {lo}..{hi}" if hi is not None
                                             else f"{text} is not {lo} or more")
        return v
    return parse


PORT, SEED, POSITIVE = _ranged(int, 0, 65535), _ranged(int, 0, 2**32 - 1), _ranged(float, 1e-3)


def _folder(text: str) -> Path:
    """--models-dir: a folder, or a path where one can be made; not a file."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is not a folder")
    return path


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="convscope", description="See how a convolutional network works, "
                                "layer by layer.")
    sub = p.add_subparsers(dest="cmd", required=True)

    def add(name: str, fn: object, help: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help)
        sp.set_defaults(fn=fn)
        sp.add_argument("--models-dir", type=_folder, default=None,
                        help="folder of ONNX files (default: models/ or $CONVSCOPE_MODELS_DIR)")
        return sp

    sp = add("serve", cmd_serve, "start the web app and API")
    sp.add_argument("--host", default="127.0.0.1")
    sp.add_argument("--port", type=PORT, default=8000)
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
    sp.add_argument("--seed", type=SEED, default=0)
    sp = add("info", cmd_info, "print a model's layer table")
    sp.add_argument("name")
    sp = add("train", cmd_train, "train LeNet-5 (modern or 1998) on MNIST (needs the train extra)")
    sp.add_argument("name", choices=DIGIT_MODELS)
    sp.add_argument("--epochs", type=int, default=12)
    sp.add_argument("--seed", type=SEED, default=0)
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
    sp.add_argument("--deadline", type=POSITIVE, default=None, metavar="SECONDS",
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
    except (OSError, ValueError) as exc:  # a path that is not what it should be, a bad setting: one line, no traceback
        print(f"convscope {args.cmd}: {exc}", file=sys.stderr)
        return 1
