"""The figures behind the pad's "not sure" rule (static/js/draw.js, README): LeNet-5 on MNIST's 10,000 test
digits, how many right and wrong answers a top-probability floor and an entropy ceiling flag.
Run: python scripts/unsure_rule.py [MIN_PROB MAX_BITS]"""

from __future__ import annotations

import sys

import numpy as np
import onnxruntime as ort

from app import data
from app.config import ROOT
from app.serving.preprocess import digit_tensor


def main(min_prob: float = 0.8, max_bits: float = 1.0) -> None:
    sess = ort.InferenceSession(str(ROOT / "models" / "lenet5.onnx"), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    x, y = data.load()["test"]
    p = np.concatenate([sess.run(["prob"], {name: np.concatenate([digit_tensor(a) for a in x[i:i + 1000]])})[0]
                        for i in range(0, len(x), 1000)])
    conf, bits = p.max(1), -(p * np.log2(np.clip(p, 1e-12, 1))).sum(1)
    ok = p.argmax(1) == y
    flag = (conf < min_prob) | (bits > max_bits)
    print(f"accuracy {ok.mean():.4f} ({(~ok).sum()} wrong of {len(y)})")
    print(f"top < {min_prob} or entropy > {max_bits} bits: flags {(flag & ~ok).sum()} of {(~ok).sum()} errors and "
          f"{(flag & ok).sum()} right answers ({(flag & ok).mean():.2%}); the rest {ok[~flag].mean():.2%} right")


if __name__ == "__main__":
    main(*(float(a) for a in sys.argv[1:3]))
