"""Write static/samples/mnist-D.png: the first digit D (0-9) of the MNIST test split, 28x28 as MNIST has it
(white on black), for the LeNet-5 explorer's samples. Run: python scripts/mnist_samples.py"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from app import data

OUT = Path(__file__).resolve().parent.parent / "static" / "samples"


def main() -> None:
    x, y = data.load()["test"]
    for d in range(10):
        i = int(np.flatnonzero(y == d)[0])
        Image.fromarray((x[i] * 255).round().astype(np.uint8), "L").save(OUT / f"mnist-{d}.png", optimize=True)
        print(f"mnist-{d}.png: MNIST test image {i}")


if __name__ == "__main__":
    main()
