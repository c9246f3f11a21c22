"""`convscope train` and `eval`: the digit models (LeNet-5, modern and 1998) trained and checked on MNIST."""

from __future__ import annotations

import argparse
import sys

from app.cli.models import models_dir

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
    card = train_seeds(args.name, models_dir(args), seeds, epochs=args.epochs, base=args.base,
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

    path = models_dir(args) / f"{args.name}.onnx"
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
