"""LeNet-5 in its modern form (ReLU, max pooling) and as published in 1998 (scaled tanh, trainable
subsampling, C3's partial connection table, RBF output), with the paper's layer names."""

from __future__ import annotations

from app.nets.spec import RBF, Conv, Flatten, Linear, MaxPool, Net, PartialConv, ReLU, ScaledTanh, Stage, Subsample

PAPER = "Gradient-based learning applied to document recognition (LeCun et al., 1998)"


def lenet5() -> Net:
    stages = (
        Stage("C1", "conv", (Conv(6, 5), ReLU())),  # 1x32x32 -> 6x28x28
        Stage("S2", "pool", (MaxPool(2, 2),)),  # -> 6x14x14
        Stage("C3", "conv", (Conv(16, 5), ReLU())),  # -> 16x10x10
        Stage("S4", "pool", (MaxPool(2, 2),)),  # -> 16x5x5
        Stage("C5", "conv", (Conv(120, 5), ReLU())),  # -> 120x1x1
        Stage("F6", "fc", (Flatten(), Linear(84), ReLU())),  # -> 84
        Stage("output", "fc", (Linear(10),)),  # -> 10 (softmax in the graph's "prob")
    )
    return Net(
        name="lenet5",
        title="LeNet-5",
        family="LeNet",
        year=1998,
        input_shape=(1, 32, 32),
        stages=stages,
        input_kind="digit",
        num_classes=10,
        description="LeCun et al.'s handwritten-digit network, modern form: ReLU and max pooling.",
        paper=PAPER,
    )


def c3_table() -> tuple[tuple[int, ...], ...]:
    """Table I of the paper, by its rule: C3 maps 0-5 take 3 contiguous S2 maps, 6-11 take 4 contiguous,
    12-14 take 4 discontinuous ones, 15 takes all 6 (60 connections). Row j: the S2 maps C3 map j sees."""
    contiguous = [tuple(sorted((j + i) % 6 for i in range(n))) for n in (3, 4) for j in range(6)]
    return (*contiguous, (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5), (0, 1, 2, 3, 4, 5))


# The output units' fixed codes: a stylised 7x12 bitmap per digit, +1 ink ('#'), -1 background ('.'),
# drawn for this project in the spirit of the paper's figure 3 (its exact bitmaps are not tabulated).
_BITMAPS = {
    0: ".......|..###..|.#...#.|#.....#|#.....#|#.....#|#.....#|#.....#|#.....#|.#...#.|..###..|.......",
    1: ".......|...#...|..##...|.#.#...|...#...|...#...|...#...|...#...|...#...|...#...|.#####.|.......",
    2: ".......|.#####.|#.....#|......#|.....#.|....#..|...#...|..#....|.#.....|#......|#######|.......",
    3: ".......|.#####.|#.....#|......#|......#|..####.|......#|......#|......#|#.....#|.#####.|.......",
    4: ".......|....##.|...#.#.|..#..#.|.#...#.|#....#.|#######|.....#.|.....#.|.....#.|.....#.|.......",
    5: ".......|#######|#......|#......|######.|......#|......#|......#|......#|#.....#|.#####.|.......",
    6: ".......|..####.|.#.....|#......|#......|######.|#.....#|#.....#|#.....#|#.....#|.#####.|.......",
    7: ".......|#######|......#|.....#.|....#..|...#...|...#...|..#....|..#....|..#....|..#....|.......",
    8: ".......|.#####.|#.....#|#.....#|#.....#|.#####.|#.....#|#.....#|#.....#|#.....#|.#####.|.......",
    9: ".......|.#####.|#.....#|#.....#|#.....#|#.....#|.######|......#|......#|.....#.|.####..|.......",
}


def rbf_codes() -> tuple[tuple[float, ...], ...]:
    """Ten codes of 84 values (+-1), row-major 12 rows of 7."""
    codes = []
    for d in range(10):
        rows = _BITMAPS[d].split("|")
        if len(rows) != 12 or any(len(r) != 7 for r in rows):
            raise ValueError(f"the bitmap of {d} is not 7 wide and 12 tall")
        codes.append(tuple(1.0 if c == "#" else -1.0 for r in rows for c in r))
    return tuple(codes)


def lenet5_1998() -> Net:
    t = ScaledTanh()
    stages = (
        Stage("C1", "conv", (Conv(6, 5), t)),  # 1x32x32 -> 6x28x28, 156 params
        Stage("S2", "pool", (Subsample(2), t)),  # -> 6x14x14, 12
        Stage("C3", "conv", (PartialConv(16, 5, c3_table()), t)),  # -> 16x10x10, 1,516
        Stage("S4", "pool", (Subsample(2), t)),  # -> 16x5x5, 32
        Stage("C5", "conv", (Conv(120, 5), t)),  # -> 120x1x1, 48,120
        Stage("F6", "fc", (Flatten(), Linear(84), t)),  # -> 84, 10,164
        Stage("output", "fc", (RBF(rbf_codes()),)),  # -> 10 negated squared distances, fixed codes
    )
    return Net(
        name="lenet5-1998",
        title="LeNet-5 (1998)",
        family="LeNet",
        year=1998,
        input_shape=(1, 32, 32),
        stages=stages,
        input_kind="digit",
        num_classes=10,
        description="LeNet-5 as published: scaled tanh, trainable subsampling, C3's partial connection table "
                    "and Euclidean RBF output units with fixed 7x12 codes (60,000 trainable parameters).",
        paper=PAPER,
    )
